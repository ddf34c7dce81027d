"""The README is executable: its commands match CI, its code runs, its numbers are right."""
import re
from pathlib import Path

import numpy as np
import pytest

import hsmcy
from hsmcy import reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_SCRIPT = (ROOT / ".ci" / "run").read_text(encoding="utf-8")

# A Python block may be preceded by <!-- readme-test: requires NAME -->: it is skipped
# only while NAME (e.g. hsmcy.HSClassifier, from a feature branch) does not exist yet.
_BLOCK = re.compile(r"(?:<!--\s*readme-test:\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```(?P<lang>\w*)\n(?P<code>.*?)```",
                    re.S)


def readme_blocks(language):
    blocks = []
    for match in _BLOCK.finditer(README):
        if match.group("lang") == language:
            line = README.count("\n", 0, match.start("code")) + 1
            blocks.append((line, match.group("marker"), match.group("code")))
    return blocks


def section(title):
    """The README text from the heading ``title`` to the next heading of the same level."""
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", README, re.M)
    assert match, f"README has no section {title!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(README, match.end())
    return README[match.end():end.start() if end else len(README)]


# ------------------------------------------------------------------ set-up
def _command_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_readme_test_commands_are_exactly_what_ci_runs():
    setup_blocks = re.findall(r"```bash\n(.*?)```", section("Set-up"), re.S)
    assert len(setup_blocks) == 2, "Set-up should be two command blocks: install-and-run, then test"
    marker = "# --- the README's install and test commands"
    assert marker in CI_SCRIPT
    ci_commands = _command_lines(CI_SCRIPT.split(marker, 1)[1].split("\n", 1)[1])
    assert _command_lines(setup_blocks[1]) == ci_commands


def test_readme_first_command_installs_and_trains_on_the_bundled_corpus():
    setup_blocks = re.findall(r"```bash\n(.*?)```", section("Set-up"), re.S)
    (command,) = _command_lines(setup_blocks[0])
    install, run = [part.strip() for part in command.split("&&")]
    assert install == "python -m pip install ."
    assert run.startswith("hsmcy train -o ")  # no CORPUS: the embedded default
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'hsmcy = "hsmcy.cli:main"' in pyproject


# ------------------------------------------------------------ python blocks
PYTHON_BLOCKS = readme_blocks("python")
_NAMESPACE = {"__name__": "__readme__"}


def _resolve(dotted):
    obj = None
    parts = dotted.split(".")
    try:
        obj = __import__(parts[0])
        for part in parts[1:]:
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def test_readme_has_python_blocks():
    assert len(PYTHON_BLOCKS) >= 6


@pytest.fixture(scope="module")
def readme_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("line, marker, code", PYTHON_BLOCKS, ids=[f"line{line}" for line, _, _ in PYTHON_BLOCKS])
def test_readme_python_block_runs(line, marker, code, readme_dir, monkeypatch):
    """Blocks run in order, in one namespace (as a reader would paste them), in an empty folder."""
    if marker:
        kind, _, argument = marker.partition(" ")
        assert kind == "requires", f"unknown readme-test marker {marker!r} at README line {line}"
        if _resolve(argument.strip()) is None:
            pytest.skip(f"{argument.strip()} is not in this build yet (README line {line})")
    monkeypatch.chdir(readme_dir)
    exec(compile(code, f"README.md:{line}", "exec"), _NAMESPACE)


# ------------------------------------------------------------ worked example
WORKED_COUNTS = {"the": 45, "cat": 30, "sat": 15, "mat": 10}
WORKED_VECTORS = {0: (1.2, 0.3), 1: (-0.4, 0.9), 2: (0.8, -0.6)}
WORKED_HIDDEN = (0.5, -1.0)


def _number(text):
    return float(text.strip().replace("−", "-"))


def worked_example():
    model = hsmcy.Word2Vec(vector_size=2, min_count=1)
    model.build_vocab_from_freq(WORKED_COUNTS)
    for node, vector in WORKED_VECTORS.items():
        model.syn1[node] = vector
    return model, np.array(WORKED_HIDDEN)


def test_worked_example_inputs_are_the_ones_in_the_readme():
    text = section("A worked example with numbers")
    for word, count in WORKED_COUNTS.items():
        assert f"`{word}` {count}" in text
    for node, (a, b) in WORKED_VECTORS.items():
        assert f"`v_n{node} = ({a}, {b})`".replace("-", "−") in text
    assert "`h = (0.5, −1.0)`" in text


def test_worked_example_table_matches_the_reference():
    model, h = worked_example()
    text = README.split("<!-- worked-example -->")[1].split("<!-- /worked-example -->")[0]
    rows = [line for line in text.splitlines() if re.match(r"\|\s*n\d", line)]
    nodes, codes = model.tree.path(model.wv.key_to_index["sat"])
    assert len(rows) == len(nodes) == 3
    total = 0.0
    for row, node, code in zip(rows, nodes, codes):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[0] == f"n{node}"
        assert int(cells[1]) == code
        assert int(cells[2]) == 1 - code
        dot = float(model.syn1[node].astype(np.float64) @ h)
        sigma = float(reference.sigmoid(dot))
        taken = sigma if code == 0 else 1.0 - sigma
        cross_entropy = -np.log(taken)
        expected = [dot, sigma, taken, cross_entropy, sigma - (1 - code)]
        np.testing.assert_allclose([_number(c) for c in cells[3:8]], expected, atol=6e-5)
        total += cross_entropy
    # the loss is the sum of the per-node cross-entropies and equals -log P(sat)
    loss = reference.loss(h, model.inner_node_vectors, nodes, codes)
    assert loss == pytest.approx(total, abs=1e-6)
    stated_loss = re.search(r"= ([\d.]+) = −log P\(sat\)", text)
    assert _number(stated_loss.group(1)) == pytest.approx(loss, abs=6e-5)
    # every leaf's probability, and their sum
    probabilities = np.exp(reference.all_leaf_log_probs(h, model.inner_node_vectors, model.tree))
    stated = dict(re.findall(r"P\((\w+)\) = ([\d.]+)", text))
    for word, index in model.wv.key_to_index.items():
        assert _number(stated[word]) == pytest.approx(probabilities[index], abs=6e-5)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)


def test_worked_example_tree_is_the_described_huffman_tree():
    model, _ = worked_example()
    paths = {word: tuple(map(tuple, model.tree.path(i))) for word, i in model.wv.key_to_index.items()}
    assert paths["the"] == ((2,), (0,))
    assert paths["cat"] == ((2, 1), (1, 1))
    assert paths["sat"] == ((2, 1, 0), (1, 0, 1))
    assert paths["mat"] == ((2, 1, 0), (1, 0, 0))


def test_path_length_statistics_quoted_for_the_bundled_corpus():
    from gensim.test.utils import datapath

    match = re.search(r"\(`V = ([\d,]+)` words\) the\s+paths have (\d+) to (\d+) nodes, ([\d.]+) per token",
                      README)
    assert match, "README should quote the path lengths on the bundled corpus"
    model = hsmcy.Word2Vec(vector_size=2, min_count=5)
    model.build_vocab(corpus_file=datapath("lee_background.cor"))
    counts = model.wv.expandos["count"]
    lengths = model.tree.path_lengths
    assert int(match.group(1).replace(",", "")) == len(model.wv)
    assert (int(match.group(2)), int(match.group(3))) == (lengths.min(), lengths.max())
    assert float(match.group(4)) == pytest.approx((counts * lengths).sum() / counts.sum(), abs=0.05)


def test_readme_figure_exists_and_is_a_png():
    figure = re.search(r"!\[[^\]]*\]\(([^)]+\.png)\)", README)
    assert figure, "README should show the tree picture"
    data = (ROOT / figure.group(1)).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


# ------------------------------------------------------------ command session
def console_session():
    """``[(command, expected output lines)]`` from the README's ``console`` block."""
    (block,) = [code for _, _, code in readme_blocks("console")]
    steps = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.strip():
            steps[-1][1].append(line)
    return steps


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# Numbers that differ from run to run whatever the code: speed, and the default worker count (the cores).
_VOLATILE = [(re.compile(r"\(([\d,]+) words/s\)"), "(N words/s)"), (re.compile(r"\b\d+ (workers?)\b"), r"N \1")]


def output_shape(line):
    """A printed line with its numbers (and the words of ranked lists) replaced by placeholders."""
    shape = re.sub(r"\bN workers?\b", "N workers", _NUMBER.sub("N", line))   # 1 worker, 2 workers
    shape = re.sub(r"^(\s+N\s+)\S+$", r"\1W", shape)                # "  0.4374  overnight"
    if re.match(r"^\s+\S+: ", shape):                                 # "  fire: fires 0.51, overnight 0.50, ..."
        shape = re.sub(r"\S+ N(?=,|$)", "W N", shape[shape.index(": "):])
    return shape


def exact_counts(line):
    """The integers of a line that a fresh run must reproduce exactly (counts, sizes, epochs)."""
    for pattern, replacement in _VOLATILE:
        line = pattern.sub(replacement, line)
    return [number for number in _NUMBER.findall(line) if "." not in number]


def assert_output_matches(shown, printed, what):
    """The README's ``shown`` lines have the shape of the ``printed`` ones, with the same counts."""
    assert len(printed) == len(shown), f"{what}: README shows {len(shown)} lines, the command printed:\n" + \
        "\n".join(printed)
    for expected, actual in zip(shown, printed):
        assert output_shape(actual) == output_shape(expected), f"{what}:\n  README: {expected}\n  real:   {actual}"
        if not re.match(r"^\s+\S+: ", expected) and not re.match(r"^\s+[\d.]+\s+\S+$", expected):
            assert exact_counts(actual) == exact_counts(expected), \
                f"{what}:\n  README: {expected}\n  real:   {actual}"


def test_output_shape_helpers_can_fail():
    assert output_shape("  0.4374  overnight") == output_shape("  0.1  fires")
    assert output_shape("trained CBOW vectors") != output_shape("trained skip-gram vectors")
    assert exact_counts("59,890 tokens in 2.2s (418,268 words/s), 2 workers") == ["59,890"]
    with pytest.raises(AssertionError):
        assert_output_matches(["  1,762 words"], ["  1,763 words"], "counts")


def run_command(argv, monkeypatch, tmp_path):
    import contextlib
    import io

    from hsmcy.cli import main

    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue().splitlines(), err.getvalue().splitlines()


def test_readme_command_session_runs(tmp_path, monkeypatch):
    """Each ``$ hsmcy ...`` line runs (``hsmcy.cli.main``, in this process to keep it fast; tests/test_cli.py
    runs the real command in subprocesses) and prints what the README shows: the same lines, numbers and
    counts (scores and neighbours may differ: training here is shorter); shown errors exactly."""
    import shlex

    steps = console_session()
    assert len(steps) >= 5
    for command, expected in steps:
        argv = shlex.split(command)
        assert argv[0] == "hsmcy"
        if argv[1] == "train":
            argv += ["--epochs", "2", "--workers", "1"]  # the session's shape, quickly
        status, printed, errors = run_command(argv[1:], monkeypatch, tmp_path)
        if any(": error: " in line for line in expected):
            assert status != 0, command
            assert errors == expected, command
        else:
            assert status == 0, f"{command}: {errors}"
            assert_output_matches(expected, printed, command)


def test_readme_train_output_is_a_fresh_run(tmp_path, monkeypatch):
    """The example output of ``hsmcy train -o lee.hsmcy``: same lines, same counts as a real run of it."""
    text = section("The `hsmcy` command")
    match = re.search(r"`hsmcy train` prints what it did.*?```text\n(.*?)```", text, re.S)
    shown = match.group(1).splitlines()
    saved_to = re.search(r"saved to (\S+) ", match.group(1)).group(1)
    status, printed, errors = run_command(["train", "-o", saved_to], monkeypatch, tmp_path)
    assert status == 0, errors
    assert_output_matches(shown, printed, f"hsmcy train -o {saved_to}")


def _synopsis_options(text):
    return set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text))


def test_readme_synopsis_lists_every_option():
    """Every option of every ``hsmcy`` command is in the README's synopsis, and nothing else."""
    from hsmcy.cli import build_parser

    text = section("The `hsmcy` command")
    synopsis = re.search(r"```\n(hsmcy train.*?)```", text, re.S).group(1)
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    for name, command in commands.items():
        lines = [line for line in re.split(r"^hsmcy ", synopsis, flags=re.M) if line.startswith(name + " ")]
        assert len(lines) == 1, f"the synopsis has no line for `hsmcy {name}`"
        listed = _synopsis_options(lines[0].split("#")[0])
        for action in command._actions:
            if not action.option_strings or "-h" in action.option_strings:
                continue
            assert listed & set(action.option_strings), f"`hsmcy {name}`: {action.option_strings} not in the README"
        known = {option for action in command._actions for option in action.option_strings}
        assert listed <= known, f"`hsmcy {name}`: the README lists options that do not exist: {listed - known}"


def test_readme_extension_table_is_the_code_table():
    from hsmcy import formats

    table = README.split("<!-- extensions -->")[1].split("<!-- /extensions -->")[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for extension in re.findall(r"`(\.\w+)`", cells[0]):
            rows[extension] = cells[1].strip("`")
    assert rows == formats.EXTENSIONS
    assert set(rows.values()) == set(formats.FORMATS)
