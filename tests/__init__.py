"""The tests, one folder per subpackage of ``blocks`` (core, models, dataflow, ...), plus course/ and cli/.

``tests`` is a package, and so is every folder in it (each has an ``__init__.py``). With pytest's
default import mode (prepend), the folder above the outermost package, the repository root, goes on
``sys.path``, and every test file is imported by its full name (``tests.core.test_forms``): two folders
may hold files of the same name, and every helper is imported one way, by its full name::

    from tests.helpers.cases import SPECS, spec_id
    from tests.helpers.reference import tensors_by_path

That works the same under ``pytest``, ``python -m pytest`` and mutmut (which runs the tests from a
copy in ``mutants/``), from any working folder. Fixtures live in ``conftest.py`` files, which are never
imported; what tests import lives in ``tests/helpers/`` (or beside the tests that alone use it).
"""
