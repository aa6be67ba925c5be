"""The fake 好差评 platform as the demo runs it: a process with a store file, controlled over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.platform_fake import FakePlatform
from controller.upstream_http import post_json
from tests.conftest import REPO

HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "hallq:h:2026-11-23:A001"}
BODY = json.dumps({"projectNo": "h-20261123-A001", "satisfaction": "5"}).encode()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


class FakeProc:
    """`python -m controller.platform_fake --port 0 --store FILE`, startable again on the same store."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.procs: list[subprocess.Popen[str]] = []

    def start(self) -> tuple[subprocess.Popen[str], str]:
        p = subprocess.Popen([sys.executable, "-m", "controller.platform_fake", "--port", "0", "--store",
                              str(self.store)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()   # "fake 好差评 platform on URL (n records kept)"
        return p, line.split(" on ")[1].split(" ")[0]


@pytest.fixture
def fake_proc(tmp_path: Path) -> Iterator[FakeProc]:
    fp = FakeProc(tmp_path / "platform.jsonl")
    yield fp
    for p in fp.procs:
        p.kill()
        p.wait(10)


def test_the_fake_as_a_process_keeps_records_across_restarts(fake_proc: FakeProc) -> None:
    proc, url = fake_proc.start()
    base = url.rsplit("/api/", 1)[0]
    assert post_json(url, BODY, HEADERS, 5).status == 200
    assert post_json(url, BODY, HEADERS, 5).status == 409, "a repeat is not kept twice"
    ctl = post_json(base + "/_fake/control", json.dumps({"fail_status": 503, "fail_times": 1}).encode(), {}, 5)
    assert ctl.status == 200 and json.loads(ctl.text)["fail_status"] == 503
    assert post_json(url, BODY, HEADERS, 5).status == 503
    assert [r["key"] for r in get(base + "/_fake/records")["records"]] == [HEADERS["Idempotency-Key"]]
    proc.kill()
    proc.wait(10)
    with pytest.raises(ConnectionRefusedError):
        post_json(url, BODY, HEADERS, 5)
    _proc2, url2 = fake_proc.start()
    assert post_json(url2, BODY, HEADERS, 5).status == 409, "records were reloaded from the store file"
    assert len(fake_proc.store.read_text(encoding="utf-8").splitlines()) == 1


def test_the_fake_in_process_refuses_what_it_cannot_take() -> None:
    p = FakePlatform(duplicate_status=200).start()
    try:
        assert post_json(p.url, BODY, {"Content-Type": "application/json"}, 5).status == 400, "no Idempotency-Key"
        assert post_json(p.url, b"not json", HEADERS, 5).status == 400
        assert post_json(p.url, BODY, HEADERS, 5).status == 200
        assert post_json(p.url, BODY, HEADERS, 5).status == 200, "duplicate_status=200 answers a repeat with 200"
        assert len(p.records()) == 1 and p.received == 4
    finally:
        p.stop()
