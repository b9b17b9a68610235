"""Structural-schema machinery for custom resources (and the type checks built-in kinds need).

The real kube-apiserver runs every custom resource through the same pipeline, which these
modules reproduce, each matching the Go package it is named after
(``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/...``):

* :mod:`.pruning` -- drop fields the schema does not declare, returning their paths for
  ``fieldValidation=Strict`` errors and ``Warn`` warnings (also used for built-in kinds,
  whose JSON decoder drops unknown fields the same way);
* :mod:`.defaulting` -- apply ``default`` values, on write and on read;
* :mod:`.validate` -- OpenAPI v3 value validation in the server's three passes (embedded
  resources, kube-openapi, list-type uniqueness), built on:

  * :mod:`.openapi_validator` -- kube-openapi's SchemaValidator and its error wording;
  * :mod:`.formats` -- Go regular expressions and the string formats CRDs support;

* :mod:`.builtin_types` -- the JSON type checks that make built-in kinds fail to decode
  (``validate.validate_builtin_types``);
* :mod:`.cel` -- ``x-kubernetes-validations`` rules evaluated with CEL, built on:

  * :mod:`.cel_values` -- JSON values converted to CEL values with the schema;
  * :mod:`.cel_library` -- the Kubernetes CEL function library;
  * :mod:`.cel_compile` -- compiled programs and the schema-aware static checks;
  * :mod:`.cel_rule_check` -- the CRD-write checks of rules (``cel.compile_errors``);

* :mod:`.crd_schema_check` -- whether a CRD's ``openAPIV3Schema`` is acceptable, built on:

  * :mod:`.crd_structural` -- ``ValidateStructural``: is the schema structural;
  * :mod:`.crd_openapi_check` -- the OpenAPI features CRDs may not use;

* shared helpers: :mod:`.gorender` (Go-style rendering of values, paths and field errors)
  and :mod:`.jsonvalues` (decoded JSON values with Go's kinds and equality).

Errors are :class:`~pilothouse.apiserver.errors.Cause` objects worded as the real server
words its ``field.Error`` values, so callers can wrap them in ``errors.invalid`` directly.
"""
