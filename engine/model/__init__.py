"""The model layer: what a Convex value, an error, a validator and a schema are. Standard library only.

Modules (each one job; imports form a DAG, bottom first):

- ``types``: timestamps, index keys, key intervals. Imports nothing.
- ``errors``: every deliberate engine error class. Imports nothing.
- ``values``: the Convex value model (validation, limits, equality, Convex JSON, storage form). Imports
  ``errors``.
- ``error_wire``: the payload form of errors that crosses the sandbox boundary. Imports ``errors`` and
  ``values``.
- ``validators``: the ``v`` builder and validator trees. Imports ``errors`` and ``values``.
- ``validator_json``: the JSON form of validators. Imports ``errors`` and ``validators``.
- ``schema``: tables, indexes and schemas, and their JSON form. Imports ``errors``, ``validators`` and
  ``validator_json``.

Who may use it: every layer of the engine, the function SDK and the wasm guest. The guest build
(``udf_wasm/build.py``) bundles this whole package and nothing else of the engine, so every module here
imports only the standard library and ``engine.model`` itself; ``tests/unit/test_model_independence.py``
and the import-linter contracts in ``pyproject.toml`` enforce it.

This file imports nothing, so importing one model module does not load the others.
"""
