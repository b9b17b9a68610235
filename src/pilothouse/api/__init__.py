"""The Kubernetes object model shared by every Pilothouse layer. No I/O happens here.

* :mod:`~pilothouse.api.labels` -- label selectors: parsing the string form, converting
  ``metav1.LabelSelector`` objects; the entry point over
  :mod:`~pilothouse.api.labelselector` (the :class:`Selector`/:class:`Requirement` model
  and matching) and :mod:`~pilothouse.api.labelparser` (lexer and parser of the string
  form).
* :mod:`~pilothouse.api.fields` -- field selectors.
* :mod:`~pilothouse.api.validation` -- object-name, label and annotation rules (DNS-1123 and
  friends) with the messages the real API server uses; built on
  :mod:`~pilothouse.api.namerules` (which name rule each built-in resource follows) and
  :mod:`~pilothouse.api.fielderrors` (``field.Error`` and its rendering).
* :mod:`~pilothouse.api.goformat` -- Go's ``%q``, ``fmt.Sprint`` and ``encoding/json``
  formatting, for messages that must match the real server byte for byte.
* :mod:`~pilothouse.api.jsonpath` -- the kubectl JSONPath dialect used by printer columns.
* :mod:`~pilothouse.api.quantity` -- ``resource.Quantity``: parsing, comparison and the
  canonical string (the API server's defaulting, the sessions quota arithmetic).
"""
