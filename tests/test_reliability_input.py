"""Hostile input, run as a user would (the real `writ` command on real files): special files survive an
export, secrets are refused or masked, keys and settings are checked before anything is written,
broken homes and databases end with one line and exit 2.

Most commands run in this process (``writ_main``: the console script's own ``main``, seconds faster);
those whose process matters (a file-size limit, the exit status the shell sees, the current folder)
run in a subprocess."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from writ_testing import writ_main

RUN = ("run", "--domain", "airline", "--tasks-per-batch", "4", "--variants", "1", "--until", "sft")


@pytest.fixture(scope="module")
def stored_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WRIT_HOME holding one small airline partition and its SFT set (~20 s); tests only read it."""
    home = tmp_path_factory.mktemp("stored") / "home"
    done = writ_main(home, *RUN)
    assert done.returncode == 0, done.stderr[-2000:]
    return home


def one_line_refusal(done: subprocess.CompletedProcess, expected: str) -> str:
    """Assert ``done`` exited 2 with exactly one ``writ: error:`` line containing ``expected``."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("writ: error: "), done.stderr[-3000:]
    assert expected in lines[0], lines[0]
    return lines[0]


def export_tasks(home: Path, out: str) -> subprocess.CompletedProcess:
    return writ_main(home, "export-tasks", "--domain", "airline", "--out", out)


# --- 1: --out never replaces a special file ------------------------------------------------------

def test_export_into_a_fifo_writes_through_it(stored_home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)  # blocks until the writer opens
    reader.start()
    done = export_tasks(stored_home, str(fifo))
    reader.join(timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced"
    assert len(json.loads(got[0])) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no *.tmp beside it


def test_export_to_a_symlink_updates_its_target_and_keeps_the_link(stored_home: Path, tmp_path: Path) -> None:
    real = tmp_path / "exports" / "real.json"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "latest.json"
    link.symlink_to(Path("exports") / "real.json")
    done = export_tasks(stored_home, str(link))
    assert done.returncode == 0, done.stderr[-2000:]
    assert link.is_symlink() and os.readlink(link) == str(Path("exports") / "real.json")
    assert len(json.loads(real.read_text())) == 4
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the file keeps its mode
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a character device needs root")
def test_export_to_a_character_device_leaves_it_a_device(stored_home: Path, tmp_path: Path) -> None:
    null = tmp_path / "null"  # a private copy of /dev/null: the machine's own is never put at risk
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    done = export_tasks(stored_home, str(null))
    assert done.returncode == 0, done.stderr[-2000:]
    assert stat.S_ISCHR(null.lstat().st_mode), "the device was replaced by a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@pytest.mark.parametrize("command", [("export-tasks", "--domain", "airline"),
                                     ("export-trajectories", "--domain", "airline"), ("export-sft",)])
def test_an_empty_out_is_refused(stored_home: Path, tmp_path: Path, command: tuple[str, ...],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "README.md").write_text("mine\n")
    monkeypatch.chdir(tmp_path)  # where an empty path would have written
    one_line_refusal(writ_main(stored_home, *command, "--out", ""), "--out must name a path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "mine\n"


def test_export_sft_refuses_a_folder_of_other_files(stored_home: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    one_line_refusal(writ_main(stored_home, "export-sft", "--out", str(tmp_path)), "holds other files (notes.txt)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    out = tmp_path / "sft"
    for _ in range(2):  # a second export replaces the first one's folder
        done = writ_main(stored_home, "export-sft", "--out", str(out))
        assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "train.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sft"]


def _export_with_a_size_limit(home: Path, *args: str) -> subprocess.CompletedProcess:
    """``writ *args`` with a file-size limit that makes a write fail half-way (EFBIG, as a full disk
    would), even as root."""
    import resource

    return subprocess.run(
        [sys.executable, "-m", "writ_dagster.cli", *args], env=dict(os.environ, WRIT_HOME=str(home)),
        capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000)))


def test_a_failed_export_leaves_no_tmp_file(stored_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "tasks.json"
    target.write_text("old\n")
    done = _export_with_a_size_limit(stored_home, "export-tasks", "--domain", "airline", "--out", str(target))
    one_line_refusal(done, "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.json"]
    assert target.read_text() == "old\n"


@pytest.mark.parametrize("command, out", [
    (("export-tasks", "--domain", "airline"), "new/deeper/tasks.json"),
    (("export-trajectories", "--domain", "airline"), "new/deeper/results.json"),
    (("export-sft",), "new/deeper/sft"),
], ids=["tasks", "trajectories", "sft"])
def test_a_failed_export_removes_the_folders_it_made(stored_home: Path, tmp_path: Path, command: tuple[str, ...],
                                                     out: str) -> None:
    (tmp_path / "mine.txt").write_text("mine\n")
    done = _export_with_a_size_limit(stored_home, *command, "--out", str(tmp_path / out))
    one_line_refusal(done, "cannot write")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["mine.txt"]


def test_export_sft_refuses_a_folder_holding_only_the_users_readme(stored_home: Path, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("my own notes\n")
    one_line_refusal(writ_main(stored_home, "export-sft", "--out", str(tmp_path)),
                     "holds README.md but no train.parquet, so no earlier export-sft wrote it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "my own notes\n"


# --- 7: keys and settings checked strictly, before anything is written ----------------------------

def strict_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    def config(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return [
        (["--batch", "b0001\n"], "bad batch key"),
        (["--batch", "b\u0660\u0660\u0660\u0661"], "bad batch key"),  # Arabic-Indic digits
        (["--batch", "b00001"], "bad batch key"),
        (["--config", config("batches.yaml", "batches: 20000\n")], "batch number must be 0 to 9999"),
        (["--config", config("training.yaml", "training:\n  recipee: cpu-tiny\n")], "unknown field(s) recipee"),
        (["--config", config("evaluation.yaml", "evaluation:\n  num_trails: 2\n")], "unknown field(s) num_trails"),
        (["--simulation-seed", str(2**63)], "seed must fit in a signed 64-bit integer"),
        (["--seed", str(2**63)], "seed must fit in a signed 64-bit integer"),
        (["--config", config("options.yaml", "simulation:\n  agent_options: {temperature: 0.5}\n")],
         "unknown agent_options for backend 'scripted-oracle': temperature"),
        (["--tasks-per-batch", "1000000000"], "tasks_per_batch must be at most 10000"),
        (["--workers", "100000"], "workers must be at most 64"),
        (["--variants", "200"], "variants must be at most 16"),
    ]


def test_strict_keys_and_settings_are_refused_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from writ_dagster.cli import main

    home = tmp_path / "home"
    monkeypatch.setenv("WRIT_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for extra, expected in strict_inputs(tmp_path):
        code = main(["run", "--domain", "airline", "--until", "sft", *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (extra, err)
        assert len(err) == 1 and expected in err[0], (extra, err)
        assert not home.exists(), extra  # no database file, no Dagster home


def test_help_states_the_maxima() -> None:
    done = subprocess.run([sys.executable, "-m", "writ_dagster.cli", "run", "--help"], capture_output=True,
                          text=True, timeout=120)
    text = " ".join(done.stdout.split())
    assert "1 to 10000" in text and "at most 16" in text and "at most 64" in text


# --- 8: one line and exit 2 instead of a traceback --------------------------------------------------

def test_a_truncated_database_is_refused_untouched(stored_home: Path, tmp_path: Path) -> None:
    """Half the file passes the header check; every command names the damage instead of crashing."""
    home = tmp_path / "home"
    home.mkdir()
    db = home / "writ.duckdb"
    whole = (stored_home / "writ.duckdb").read_bytes()
    db.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out"
    for argv in (RUN, ("export-trajectories", "--domain", "airline", "--out", str(out)),
                 ("export-sft", "--out", str(out)), ("export-tasks", "--domain", "airline", "--out", str(out))):
        one_line_refusal(writ_main(home, *argv), "is truncated")
    assert db.read_bytes() == whole[: len(whole) // 2]
    assert sorted(p.name for p in home.iterdir()) == ["writ.duckdb"] and not out.exists()


def test_a_writ_home_that_cannot_be_a_folder_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    one_line_refusal(writ_main(blocker, *RUN), "is not a folder")
    one_line_refusal(writ_main(blocker / "below", *RUN), "cannot be created")
    one_line_refusal(writ_main(Path("/proc/writ-nowhere/home"), *RUN), "cannot be created")
    assert blocker.read_text() == "not a folder\n"
    # a part longer than a file name may be (255 bytes on Linux file systems)
    too_long = tmp_path / ("x" * 300) / "home"
    one_line_refusal(writ_main(too_long, *RUN), "WRIT_HOME cannot be used: File name too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def _read_only(folder: Path) -> bool:
    """Make ``folder`` read-only for this process: a mode bit for a user, the immutable flag for root
    (which ignores mode bits); False where neither works here."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def test_a_read_only_dagster_home_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    dagster = tmp_path / "dagster"
    dagster.mkdir()
    if not _read_only(dagster):
        pytest.skip("cannot make a folder read-only for root here (no chattr)")
    try:
        env = dict(os.environ, WRIT_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(dagster))
        done = subprocess.run([sys.executable, "-m", "writ_dagster.cli", *RUN], env=env, capture_output=True,
                              text=True, timeout=300)
        one_line_refusal(done, f"DAGSTER_HOME {dagster} is not writable")
        assert not (tmp_path / "home").exists()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(dagster)], check=False)
        dagster.chmod(0o755)


# --- 6: no literal secret is stored anywhere ----------------------------------------------------------

SECRET = "sk-writ-test-0123456789abcdef"


def secret_configs() -> list[tuple[str, str]]:
    endpoint = "base_urls: ['http://127.0.0.1:9/v1'], model: m"
    return [
        (f"simulation:\n  agent_backend: openai-compatible\n  agent_options: {{{endpoint}, api_key: {SECRET}}}\n",
         "agent_options.api_key is a literal secret, refused: put it in an environment variable and give that "
         "variable's name as api_key_env"),
        (f"simulation:\n  agent_backend: openai-compatible\n  agent_options: "
         f"{{base_urls: ['http://user:{SECRET}@127.0.0.1:9/v1'], model: m}}\n",
         "agent_options.base_urls has a URL with credentials (http://***@127.0.0.1:9/v1)"),
        (f"teacher:\n  kind: openai-compatible\n  options: {{base_urls: ['http://u:{SECRET}@127.0.0.1:9/v1'], "
         "model: m}\n", "options.base_urls has a URL with credentials"),
        (f"user_simulator:\n  kind: openai-compatible\n  options: {{{endpoint}, api_key: {SECRET}}}\n",
         "options.api_key is a literal secret"),
        # a query string carries it as well as userinfo does
        (f"simulation:\n  agent_backend: openai-compatible\n  agent_options: "
         f"{{base_urls: ['http://127.0.0.1:9/v1?api_key={SECRET}'], model: m}}\n",
         "agent_options.base_urls has a URL with credentials (http://127.0.0.1:9/v1?api_key=***)"),
        (f"teacher:\n  kind: openai-compatible\n  options: {{base_urls: ['http://127.0.0.1:9/v1?x=1&token={SECRET}'], "
         "model: m}\n", "options.base_urls has a URL with credentials (http://127.0.0.1:9/v1?x=1&token=***)"),
        # and a server's command line, split or in one argument
        (f"teacher:\n  kind: vllm-server\n  options: {{model: m, extra_args: ['--api-key', '{SECRET}']}}\n",
         "options.extra_args passes a secret on the command line (--api-key), refused"),
        # and the environment of a server it starts
        (f"teacher:\n  kind: vllm-server\n  options: {{model: m, env: {{HF_TOKEN: '{SECRET}'}}}}\n",
         "options.env.HF_TOKEN is a literal secret, refused: export HF_TOKEN in the environment `writ` runs in "
         "instead (the servers it starts inherit it)"),
        (f"evaluation:\n  server_extra_args: ['--hf-token={SECRET}']\n",
         "server.extra_args passes a secret on the command line (--hf-token), refused"),
        (f"evaluation:\n  user_base_url: 'http://alice:{SECRET}@127.0.0.1:9/v1'\n",
         "has a URL with credentials (http://***@127.0.0.1:9/v1)"),
        (f"evaluation:\n  user_base_url: 'http://127.0.0.1:9/v1?key={SECRET}'\n",
         "user_base_url has a query string or fragment, refused"),
    ]


@pytest.mark.parametrize("text, expected", secret_configs())
def test_a_literal_secret_in_config_is_refused_and_stored_nowhere(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("tasks_per_batch: 4\n" + text)
    home = tmp_path / "home"
    done = writ_main(home, "run", "--domain", "airline", "--until", "trajectories", "--config", str(config))
    one_line_refusal(done, expected)
    assert SECRET not in done.stdout + done.stderr
    assert not home.exists()  # no DuckDB row, no Dagster run, no log holds it


def test_stored_settings_never_hold_url_credentials() -> None:
    """The stored JSON of settings built without validation still carries no credentials."""
    from writ_dagster.core.simulation.settings import TrajectoryConfig

    config = TrajectoryConfig.model_construct(
        **{**TrajectoryConfig().model_dump(), "agent_options": {"base_urls": [f"http://u:{SECRET}@h:1/v1"]}})
    stored = config.public_json()
    assert SECRET not in stored and "http://***@h:1/v1" in stored


def test_only_secret_looking_settings_are_masked() -> None:
    """max_tokens is no token and api_key_env names a variable: both are stored as they are."""
    import json

    from writ_dagster.core.secrets import is_secret_name
    from writ_dagster.core.simulation.settings import TrajectoryConfig

    options = {"base_urls": ["http://127.0.0.1:9/v1"], "model": "m", "max_tokens": 512, "api_key_env": "MY_KEY"}
    stored = json.loads(TrajectoryConfig(agent_backend="openai-compatible", agent_options=options).public_json())
    assert stored["agent_options"] == options
    assert [n for n in ("api_key", "token", "hf_token", "password", "--api-key", "max_tokens", "api_key_env",
                        "max_num_batched_tokens", "tokenizer") if is_secret_name(n)] == [
        "api_key", "token", "hf_token", "password", "--api-key"]


# --- 9: folders with ordinary permissions, short error lines ------------------------------------------

def test_sft_folders_respect_the_umask(stored_home: Path, tmp_path: Path) -> None:
    """The tests run under the usual umask 022: folders come out 0755, not mkdtemp's 0700."""
    umask = os.umask(0o022)
    os.umask(umask)
    [made] = [p for p in (stored_home / "sft").iterdir() if not p.name.startswith(".")]
    assert stat.S_IMODE(made.stat().st_mode) == 0o777 & ~umask
    out = tmp_path / "export"
    done = writ_main(stored_home, "export-sft", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask


def test_errors_quote_long_input_only_in_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    from writ_dagster.cli import main

    monkeypatch.setenv("WRIT_HOME", str(tmp_path / "home"))
    huge = "b" + "9" * 5000
    assert main(["run", "--domain", "airline", "--batch", huge]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert len(line) < 400 and "more characters" in line
    assert main(["export-tasks", "--domain", "x" * 5000, "--out", "-"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert len(line) < 400


# --- numbers that validators cannot bound, and yes/no where a number goes -----------------------------

@pytest.mark.parametrize("name, text, expected", [
    ("nan.yaml", "sft: {min_reward: .nan}\n", "sft.min_reward is nan; numbers must be finite"),
    ("inf.yaml", "type_mix: {normal: .inf}\n", "type_mix.normal is inf; numbers must be finite"),
    ("nan.json", '{"sft": {"min_reward": NaN}}', "sft.min_reward is nan; numbers must be finite"),
    ("huge.yaml", "evaluation: {num_trials: 1000000000000000000000000000000}\n",
     "evaluation.num_trials is 100000000000000000000000000000... (1 more characters), outside the 64-bit range"),
    ("trials.yaml", "evaluation: {num_trials: 100000}\n", "num_trials"),
    ("steps.yaml", "simulation: {max_steps: 100000000}\n", "max_steps must be at most 10000"),
    ("attempts.yaml", "max_attempts_per_task: 100000000\n", "max_attempts_per_task must be at most 10000"),
    ("bool.yaml", "tasks_per_batch: true\n", "tasks_per_batch must be a number, got True"),
    ("bool-sim.yaml", "simulation: {variants: true}\n", "variants must be a number, got True"),
])
def test_numbers_that_would_fail_after_writing_are_refused_first(tmp_path: Path, name: str, text: str,
                                                                   expected: str) -> None:
    config = tmp_path / name
    config.write_text(text)
    home = tmp_path / "home"
    done = writ_main(home, "run", "--domain", "airline", "--until", "sft", "--config", str(config))
    one_line_refusal(done, expected)
    assert not home.exists()


def test_a_set_value_is_held_to_the_same_number_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    one_line_refusal(writ_main(home, "run", "--until", "sft", "--set", "sft.min_reward=.nan"), "numbers must be finite")
    one_line_refusal(writ_main(home, "run", "--until", "sft", "--set", "tasks_per_batch=yes"),
                     "tasks_per_batch must be a number")
    assert not home.exists()


def test_a_database_of_another_program_is_refused_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with duckdb.connect(str(home / "writ.duckdb")) as con:
        con.execute("CREATE TABLE customers (id INTEGER, name VARCHAR)")
        con.execute("INSERT INTO customers VALUES (1, 'Ada')")
    before = (home / "writ.duckdb").read_bytes()
    done = writ_main(home, "run", "--domain", "airline", "--tasks-per-batch", "2", "--until", "trajectories")
    one_line_refusal(done, "is a DuckDB database of another program (tables main.customers, no WRIT schema)")
    assert (home / "writ.duckdb").read_bytes() == before
    with duckdb.connect(str(home / "writ.duckdb"), read_only=True) as con:
        assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [("customers",)]


def test_a_key_given_by_variable_reaches_the_endpoint_and_nothing_in_the_home(tmp_path: Path) -> None:
    """The one way a key travels (``api_key_env``): each role's key reaches its endpoint as a bearer token,
    and after a real `writ run` (one endpoint fault retried, Dagster's run log on) no file under the home,
    database, Dagster storage and logs included, holds either key, nor does the command's output."""
    pytest.importorskip("openai")
    from llm_fakes import LoopbackServer, fake_openai_app
    from writ_testing import writ_cli

    keys = {"fake-teacher": SECRET + "-agent", "fake-user": SECRET + "-user"}
    first = [True]

    def answer(body: dict) -> dict | int:
        if first[0]:  # one 503: the retry and its logging must not spill the key either
            first[0] = False
            return 503
        if body["model"] == "fake-user":
            return {"content": "I want to cancel my reservation."}  # until max_steps ends it
        return {"content": "I am sorry, I cannot help with that."}

    app, seen = fake_openai_app(answer)
    with LoopbackServer(app) as server:
        config = tmp_path / "endpoints.yaml"
        config.write_text(
            "tasks_per_batch: 2\nsimulation: {variants: 1, max_steps: 6}\n"
            f"teacher:\n  kind: openai-compatible\n  options: {{base_urls: ['{server.base_url}'], "
            "model: fake-teacher, api_key_env: WRIT_SWEEP_AGENT_KEY, backoff_s: 0.01}\n"
            f"user_simulator:\n  kind: openai-compatible\n  options: {{base_urls: ['{server.base_url}'], "
            "model: fake-user, api_key_env: WRIT_SWEEP_USER_KEY, backoff_s: 0.01}\n")
        home = tmp_path / "home"
        done = writ_cli(home, "run", "--domain", "airline", "--until", "trajectories", "--config", str(config),
                        "-v", timeout=600, extra_env={"WRIT_SWEEP_AGENT_KEY": keys["fake-teacher"],
                                                      "WRIT_SWEEP_USER_KEY": keys["fake-user"]})
    assert done.returncode == 0, done.stderr[-3000:]
    answered = [s for s in seen if s["body"]["model"] in keys]
    assert {s["body"]["model"] for s in answered} == set(keys)
    assert all(s["auth"] == f"Bearer {keys[s['body']['model']]}" for s in answered)
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files) and any("dagster" in p.parts for p in files)
    for key in keys.values():
        assert key not in done.stdout + done.stderr
        holding = [str(p.relative_to(home)) for p in files if key.encode() in p.read_bytes()]
        assert holding == [], holding
