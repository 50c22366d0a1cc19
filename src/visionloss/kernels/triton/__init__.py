"""Triton GPU kernels of the fused ops (tested on CPU with ``TRITON_INTERPRET=1``).

The modules here import ``triton`` at their top: import them only when
:func:`visionloss.kernels.triton_available` is true. This package itself imports nothing, so
``import visionloss`` never needs triton. Each module's public function has exactly the arguments
and result of the op's reference in ``kernels/<op>.py``, and a ``covers(...)`` predicate for the
``covered`` argument of :func:`visionloss.kernels.backend_for`.
"""
