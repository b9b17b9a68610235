"""The Kubernetes object model shared by every Pilothouse layer. No I/O happens here.

* :mod:`~pilothouse.api.labels` -- label selectors: parsing the string form, matching,
  converting ``metav1.LabelSelector`` objects.
* :mod:`~pilothouse.api.fields` -- field selectors.
* :mod:`~pilothouse.api.validation` -- object-name, label and annotation rules (DNS-1123 and
  friends) with the messages the real API server uses.
* :mod:`~pilothouse.api.jsonpath` -- the kubectl JSONPath dialect used by printer columns.
"""
