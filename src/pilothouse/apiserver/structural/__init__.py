"""Structural-schema machinery for custom resources (and the type checks built-in kinds need).

The real kube-apiserver runs every custom resource through the same pipeline, which these
modules reproduce, each matching the Go package it is named after
(``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/...``):

* :mod:`.pruning` -- drop fields the schema does not declare, returning their paths for
  ``fieldValidation=Strict`` errors and ``Warn`` warnings (also used for built-in kinds,
  whose JSON decoder drops unknown fields the same way);
* :mod:`.defaulting` -- apply ``default`` values, on write and on read;
* :mod:`.validate` -- OpenAPI v3 value validation with kube-openapi's error wording, plus
  the JSON type checks that make built-in kinds fail to decode;
* :mod:`.cel` -- ``x-kubernetes-validations`` rules evaluated with CEL, and their
  compile-time checks for the CRD validation step;
* :mod:`.crd_schema_check` -- whether a CRD's ``openAPIV3Schema`` is structural and uses
  only what custom resources support.

Errors are :class:`~pilothouse.apiserver.errors.Cause` objects worded as the real server
words its ``field.Error`` values, so callers can wrap them in ``errors.invalid`` directly.
"""
