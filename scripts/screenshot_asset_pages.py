"""Screenshots of the asset pages whose metadata draws a plot, taken in a headless Chromium.

    python scripts/screenshot_asset_pages.py OUT_DIR [--writ-home DIR] [--dagster-home DIR]

Starts `writ dev` on 127.0.0.1 (a free port) over the homes given (by default the ones writ uses:
$WRIT_HOME or ./.writ, and $DAGSTER_HOME or $WRIT_HOME/dagster), waits for its code location to load,
then for each of `tasks`, `trajectories`, `sft_set`, `checkpoint` and `evaluation` opens the asset's
page (its Overview tab, which shows the latest materialization's metadata: for a partitioned asset,
the partition materialized last), opens the plot's row and saves OUT_DIR/<asset>.png. Dagster draws
a markdown metadata value in a dialog behind its row's "[Show Markdown]" link, not inline in the
table, so the screenshot is the page with that dialog open.

A page passes when the dialog holds an <img> of an inline PNG that the browser decoded, and the
screenshot decodes as a PNG whose pixels under that <img> are not blank. The UI is stopped at the end
(its whole process group, then a check that nothing of its session is left). Exits 1 naming each page
that failed, or the UI if it did not start or stop.

Needs Playwright's Python package (`pip install playwright`) and a Chromium on the machine
(`--chromium`, default the `chromium` on PATH); Playwright's own browser download is not used. Nothing is
materialized, but `writ dev` marks failed any run a killed process left in progress, as it always does.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from writ_dagster.core.processes import end_group

if TYPE_CHECKING:
    from playwright.sync_api import Page  # imported at run time only where it runs: an optional package

# Each asset with a plot, and the metadata key that holds it (writ_dagster/assets/*.py).
PLOTS = {
    "tasks": "plot_writes_x_reads",
    "trajectories": "plot_pass_rate_by_cell",
    "sft_set": "plot_writes_x_reads",
    "checkpoint": "plot_loss_curve",
    "evaluation": "plot_pass_hat_1",
}
# The network is closed on the machines this runs on, and nothing of the browser's own is wanted.
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed when run as root (containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
# How long a page may take to show its metadata once the code location has loaded (a few seconds on 2 cores).
PAGE_TIMEOUT_MS = 60_000
# Fewer distinct colours than this under the plot's <img> means nothing was drawn there.
MIN_PLOT_COLOURS = 16
FADES_ENDED = """() => document.getAnimations()
    .filter(a => a.effect && a.effect.getTiming().iterations !== Infinity)
    .every(a => a.playState === "finished")"""
WORKSPACE_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


class PageError(Exception):
    """An asset page that did not show its plot."""


@dataclass
class Ui:
    """A `writ dev` started in its own session (so that it and every child it starts can be ended)."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_ui(env: dict[str, str], log: Path) -> Ui:
    """`writ dev` on loopback, its output in ``log``."""
    port = _free_port()
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "writ_dagster.cli", "dev", "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Ui(proc, f"http://127.0.0.1:{port}", log)


def wait_loaded(ui: Ui, timeout_s: float) -> None:
    """Wait until the webserver answers GraphQL and every code location has loaded.

    The webserver answers before the code server has loaded the definitions; an asset page opened
    then says the asset does not exist."""
    deadline = time.monotonic() + timeout_s
    body = json.dumps({"query": WORKSPACE_QUERY}).encode()
    last = "no answer"
    while time.monotonic() < deadline:
        if ui.proc.poll() is not None:
            raise RuntimeError(f"writ dev exited with {ui.proc.returncode}")
        request = urllib.request.Request(f"{ui.base}/graphql", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                entries = json.load(resp)["data"]["workspaceOrError"].get("locationEntries") or []
        except (OSError, ValueError, KeyError) as exc:  # not listening yet, or an answer of another shape
            last = repr(exc)
        else:
            last = str(entries)
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        time.sleep(1.0)
    raise RuntimeError(f"not loaded after {timeout_s:.0f} s (last: {last})")


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (Linux /proc; fields after the name: state, ppid, pgrp, session)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(stat.parent.name))
    return members


def stop_ui(ui: Ui) -> list[int]:
    """End the UI's process group (SIGTERM, then SIGKILL), reap it; return what is left of its session."""
    end_group(ui.proc.pid, grace_s=60)
    try:
        ui.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    return _session_members(ui.proc.pid)


def _plot_colours(screenshot: bytes, box: dict[str, float]) -> int:
    """Distinct colours of the screenshot under ``box`` (CSS pixels; the page's scale is 1)."""
    with Image.open(io.BytesIO(screenshot)) as image:
        image.load()  # decodes every pixel: a cut or corrupt file fails here
        if image.format != "PNG":
            raise PageError(f"the screenshot is {image.format}, not PNG")
        left, top = int(box["x"]), int(box["y"])
        region = image.convert("RGB").crop((left, top, left + int(box["width"]), top + int(box["height"])))
        return len(region.getcolors(region.width * region.height) or [])


def shoot(page: Page, base: str, asset: str, key: str, out: Path) -> str:
    """Open ``asset``'s page and its plot ``key``; save the screenshot to ``out``; say what it shows."""
    page.goto(f"{base}/assets/{asset}")
    row = page.locator("tr").filter(has=page.get_by_text(key, exact=True))
    try:
        row.first.wait_for(timeout=PAGE_TIMEOUT_MS)
    except Exception as exc:  # playwright's TimeoutError
        raise PageError(f"no metadata row {key!r} on the page (is the asset materialized?)") from exc
    skip = page.get_by_role("button", name="Skip")  # Dagster's "join the community" dialog, first visit only
    if skip.count() and skip.first.is_visible():
        skip.first.click()
    row.first.get_by_text("[Show Markdown]").click()
    image = page.get_by_role("dialog").filter(has_text=key).locator("img").first
    image.wait_for(timeout=30_000)
    image.evaluate("img => img.decode()")  # resolves once the browser has decoded it, rejects if it cannot
    src, width, height = image.evaluate("img => [img.src.slice(0, 22), img.naturalWidth, img.naturalHeight]")
    if src != "data:image/png;base64," or width < 100 or height < 100:
        raise PageError(f"the dialog's image is {src!r}, {width}×{height}")
    # The dialog fades in (a CSS transition): a screenshot taken before it ends shows the page through it.
    # Spinners elsewhere on the page loop for ever, so only animations that end are waited for.
    page.wait_for_function(FADES_ENDED, timeout=30_000)
    box = image.bounding_box()
    if box is None:
        raise PageError("the plot is not laid out on the page")
    png = page.screenshot()
    colours = _plot_colours(png, box)
    if colours < MIN_PLOT_COLOURS:
        raise PageError(f"the plot's area of the screenshot is blank ({colours} colours)")
    out.write_bytes(png)
    return f"{key}: a {width}×{height} PNG, {colours} colours on screen"


def shoot_all(base: str, out_dir: Path, chromium: str) -> dict[str, str]:
    """One screenshot per asset of PLOTS; the failures, by asset."""
    from playwright.sync_api import sync_playwright

    failures: dict[str, str] = {}
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="writ-chromium-") as profile:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT
        )
        try:
            page = browser.new_page()
            for asset, key in PLOTS.items():
                target = out_dir / f"{asset}.png"
                try:
                    print(f"{asset}: {shoot(page, base, asset, key, target)} -> {target}")
                except Exception as exc:  # one page failing must not hide the others
                    failures[asset] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    print(f"{asset}: FAILED: {failures[asset]}", file=sys.stderr)
        finally:
            browser.close()
    return failures


def _chromium_on_path() -> str | None:
    """The first Chromium build on PATH, by the names distributions give it."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for <asset>.png (created)")
    parser.add_argument("--writ-home", type=Path, help="WRIT_HOME to show (default: as writ, $WRIT_HOME or ./.writ)")
    parser.add_argument("--dagster-home", type=Path, help="DAGSTER_HOME (default: $DAGSTER_HOME or WRIT_HOME/dagster)")
    parser.add_argument("--chromium", default=_chromium_on_path(), help="the Chromium to drive (default: on PATH)")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for the UI")
    return parser


def _env(args: argparse.Namespace) -> dict[str, str]:
    """The environment of `writ dev`: the homes given, as absolute paths."""
    env = dict(os.environ)
    if args.writ_home:
        env["WRIT_HOME"] = str(args.writ_home.resolve())
        if not args.dagster_home:
            env.pop("DAGSTER_HOME", None)  # a given WRIT_HOME brings its own Dagster home, as writ does
    if args.dagster_home:
        env["DAGSTER_HOME"] = str(args.dagster_home.resolve())
    return env


def main() -> int:
    args = _parser().parse_args()
    if not args.chromium or not Path(args.chromium).is_file():
        print(f"no Chromium at {args.chromium} (install one, or name it with --chromium)", file=sys.stderr)
        return 2
    if importlib.util.find_spec("playwright") is None:
        print("Playwright's Python package is missing (pip install playwright)", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="writ-dev-log-") as logs:
        ui = start_ui(_env(args), Path(logs) / "writ-dev.log")
        failures: dict[str, str] = {}
        try:
            wait_loaded(ui, args.startup_timeout)
            failures = shoot_all(ui.base, args.out_dir, args.chromium)
        except Exception as exc:  # the UI did not come up, or the browser did not start
            failures["UI"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"UI: FAILED: {failures['UI']}\n{ui.log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
        finally:
            left = stop_ui(ui)
        if left:
            failures["UI stop"] = f"processes left in its session: {left}"
    for page, why in failures.items():
        print(f"FAILED {page}: {why}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
