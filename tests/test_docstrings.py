"""Every public name is documented well enough that ``help()`` is enough to use it."""
import inspect
import pydoc

import pytest

import hsmcy


def _takes_parameters(function):
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    return any(name not in ("self", "cls") for name in signature.parameters)


# Modules whose own public names (their __all__) are checked too.
MODULES = ["hsmcy.cli", "hsmcy.progress", "hsmcy.plotting"]


def _public_callables():
    """``(qualified name, object)`` for every name in ``hsmcy.__all__`` (and MODULES' ``__all__``) and the
    public methods of its classes."""
    import importlib

    names = [("hsmcy", hsmcy, name) for name in hsmcy.__all__]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        names += [(module_name, module, name) for name in module.__all__]
    found = []
    for prefix, module, name in names:
        obj = getattr(module, name)
        if not callable(obj):
            continue
        found.append((f"{prefix}.{name}", obj))
        if inspect.isclass(obj):
            for attribute, member in vars(obj).items():
                if attribute.startswith("_"):
                    continue
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if inspect.isfunction(member):
                    found.append((f"{prefix}.{name}.{attribute}", member))
    return found


PUBLIC = _public_callables()


def test_all_names_exist():
    for name in hsmcy.__all__:
        assert hasattr(hsmcy, name), name


@pytest.mark.parametrize("qualified, obj", PUBLIC, ids=[q for q, _ in PUBLIC])
def test_public_name_has_a_docstring_with_parameters(qualified, obj):
    doc = inspect.getdoc(obj)
    assert doc and len(doc.strip()) > 20, f"{qualified} has no docstring"
    if inspect.isclass(obj):
        # the constructor that runs: document its parameters if hsmcy wrote it
        owner = next(cls for cls in obj.__mro__ if "__init__" in vars(cls))
        takes = owner.__module__.startswith("hsmcy") and _takes_parameters(obj.__init__)
    else:
        takes = _takes_parameters(obj)
    if takes:
        assert "Parameters\n----------" in doc, f"{qualified} takes arguments but its docstring has no Parameters"


def test_help_of_word2vec_is_enough_to_use_it():
    text = pydoc.render_doc(hsmcy.Word2Vec, renderer=pydoc.plaintext)
    for needed in ("corpus_file", "vector_size", "sg", "epochs", "build_vocab", "train", "wv", "syn1",
                   "get_latest_training_loss", "to_gensim", "save", "load", "callbacks", "progress", "Examples"):
        assert needed in text, needed


def test_package_docstrings():
    for module in ("hsmcy", "hsmcy.cli", "hsmcy.progress", "hsmcy.plotting", "hsmcy.reference", "hsmcy.tree"):
        imported = __import__(module, fromlist=["_"])
        assert inspect.getdoc(imported), module


@pytest.mark.parametrize("obj", [hsmcy.Word2Vec, hsmcy.HuffmanTree, "hsmcy.progress"])
def test_docstring_examples_run(obj, tmp_path, monkeypatch):
    """The Examples sections are doctests; they run as written."""
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)
    if isinstance(obj, str):
        obj = importlib.import_module(obj)
    module = obj if inspect.ismodule(obj) else importlib.import_module(obj.__module__)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(obj, globs=dict(vars(module)))
    assert tests
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
