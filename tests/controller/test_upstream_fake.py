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
from controller.upstream_http import Answer, post_json
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

    def start(self, *args: str) -> tuple[subprocess.Popen[str], str]:
        p = subprocess.Popen([sys.executable, "-m", "controller.platform_fake", "--port", "0", "--store",
                              str(self.store), *args], cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()   # "fake 好差评 platform on URL (n records kept, STYLE style)"
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


def said(a: Answer) -> tuple[int, str, str]:
    body = json.loads(a.text)
    return a.status, body["code"], body["msg"]


def test_the_fake_in_body_style_always_answers_200_with_the_verdict_as_code() -> None:
    p = FakePlatform(answer_style="body", token="t").start()
    headers = {**HEADERS, "Authorization": "Bearer t"}
    try:
        p.fail_with(500, times=1)
        assert said(post_json(p.url, BODY, headers, 5)) == (200, "500", "fake platform told to fail")
        assert said(post_json(p.url, BODY, HEADERS, 5))[:2] == (200, "401"), "a bad token"
        p.validate = lambda rec: "参数错误: satisfaction" if rec["satisfaction"] == "1" else None
        bad = json.dumps({"projectNo": "h-20261123-A002", "satisfaction": "1"}).encode()
        assert said(post_json(p.url, bad, {**headers, "Idempotency-Key": "k2"}, 5)) == (200, "400",
                                                                                          "参数错误: satisfaction")
        assert said(post_json(p.url, BODY, headers, 5)) == (200, "0", "ok")
        assert said(post_json(p.url, BODY, headers, 5)) == (200, "1001", "already have it")
        assert p.keys() == [HEADERS["Idempotency-Key"]]
        assert [s for _, s in p.answers] == [500, 401, 400, 200, 409], "what each code stands for"
    finally:
        p.stop()


def test_the_fake_process_takes_the_answer_style_by_flag_and_by_control(fake_proc: FakeProc) -> None:
    _proc, url = fake_proc.start("--answer-style", "body")
    base = url.rsplit("/api/", 1)[0]

    def control(order: dict[str, Any]) -> Answer:
        return post_json(base + "/_fake/control", json.dumps(order).encode(), {}, 5)

    assert json.loads(control({"fail_status": 500, "fail_times": 1}).text)["answer_style"] == "body"
    assert said(post_json(url, BODY, HEADERS, 5))[:2] == (200, "500")
    assert said(post_json(url, BODY, HEADERS, 5))[:2] == (200, "0")
    assert json.loads(control({"answer_style": "status"}).text)["answer_style"] == "status"
    assert post_json(url, BODY, HEADERS, 5).status == 409
    bad = control({"answer_style": "xml"})
    assert bad.status == 400 and "answer_style 'xml' is not one of status, body" in bad.text
