"""TEMPORARY shim: the dense cross-entropy and focal terms that the segmentation family shares.

The module of the same name written on the classification branch replaces this file at the merge;
until then it re-exports the classification family's private cores under their shared names.
"""

from .classification import _cross_entropy_terms as cross_entropy_terms
from .classification import _focal_terms as focal_terms

__all__ = ["cross_entropy_terms", "focal_terms"]
