"""The kiosk presenter without a window: intents in, effects and exact screen texts out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from hallq.config import parse_config
from hallq.text.words import WORDS, Msg
from kiosk.intents import (
    AppointmentRead,
    ControllerChanged,
    CredentialRead,
    IssueDone,
    IssueFailed,
    IssueTicket,
    LookupDone,
    LookupTicket,
    PrintDone,
    PrinterChanged,
    PrintFailed,
    PrintProgress,
    PrintTicket,
    QueuesChanged,
    ScanRejected,
    Tap,
    Tick,
    TicketRead,
    Touch,
)
from kiosk.presenter import KioskPresenter, Screen
from tests.conftest import small_hall

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in the hall
QUEUES = [{"id": "general", "waiting": 4, "est_wait_s": 660, "issuing": "open"},
          {"id": "tax", "waiting": 0, "est_wait_s": None, "issuing": "quota"}]
TICKET = {"number": "A005", "service": "general", "priority": "normal", "status": "waiting",
          "issued_at": "2026-11-23T09:00:05+08:00", "window": None, "ahead": 4, "est_wait_s": 660}


def presenter(**kiosk: Any) -> KioskPresenter:
    cfg = parse_config(small_hall(kiosks=[{"id": "k1", "idle_timeout_s": 30, **kiosk}]))
    p = KioskPresenter(cfg, cfg.kiosks[0], T0)
    p.handle(ControllerChanged(True), T0)
    p.handle(QueuesChanged(QUEUES), T0)
    return p


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_home_shows_both_languages_mongolian_first() -> None:
    v = presenter().view()
    assert v.screen is Screen.HOME
    sides = [b.lang for b in v.buttons]
    assert sides == ["mn"] * 5 + ["zh"] * 5
    assert [b.action for b in v.buttons[:5]] == ["lang", "elder", "green", "scan", "appointment"]
    assert v.texts()[-5:] == ["取号", "长者模式 · 大字", "绿色通道", "扫蒙速办码取号", "预约签到"]
    assert v.texts()[:3] == ["测试政务服务中心", "欢迎光临", "ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠬᠤ"]


def test_full_visit_in_chinese() -> None:
    p = presenter()
    assert p.handle(Tap("lang", "zh"), at(1)) == []
    v = p.view()
    assert v.screen is Screen.SERVICES
    assert v.texts() == ["请选择办理的业务", "综合受理", "等候 4 人 · 约 11 分钟", "税务", "等候 0 人 · 暂无窗口",
                         "今日号已发完", "回首页"]
    assert [b.enabled for b in v.buttons] == [True, True, True], "a quota from retained state is told, not obeyed"
    assert p.handle(Tap("service", "tax"), at(2)) == [IssueTicket("tax", "normal", None, "kiosk:k1")]
    p.handle(IssueFailed("SERVICE_CLOSED", "quota reached"), at(2.1))    # the controller's reply decides
    assert p.view().screen is Screen.ERROR
    p.handle(Tap("back"), at(2.2))
    assert p.view().screen is Screen.SERVICES
    effects = p.handle(Tap("service", "general"), at(3))
    assert effects == [IssueTicket("general", "normal", None, "kiosk:k1")]
    assert p.view().texts() == ["正在取号，请稍候"]
    assert p.handle(Tap("service", "general"), at(3.2)) == []    # a second tap while issuing issues nothing
    (effect,) = p.handle(IssueDone(TICKET, "K7Q2ABCD"), at(4))
    assert isinstance(effect, PrintTicket)
    t = effect.ticket
    assert (t.number, t.service_zh, t.service_mn, t.ahead, t.est_wait_min, t.issued_at) == (
        "A005", "综合受理", "ᠶᠡᠷᠦᠩᠬᠡᠢ", 4, 11, "2026-11-23 09:00")
    assert t.qr_payload == "https://hallq.example/t?q=HQ1:test-hall:2026-11-23:A005:K7Q2ABCD"
    p.handle(PrintProgress(0.5), at(4.5))
    assert p.view().progress == 0.5 and p.view().number == "A005"
    p.handle(PrintDone(), at(5))
    assert p.view().texts() == ["您的号码", "A005", "前面还有 4 人", "预计等待 11 分钟", "请取走号票，留意叫号",
                                "回首页"]
    p.handle(Tick(), at(5 + 11))
    assert p.view().screen is Screen.RESULT
    p.handle(Tick(), at(5 + 12))
    assert p.view().screen is Screen.HOME


def test_mongolian_visit_texts_are_mongolian() -> None:
    p = presenter()
    p.handle(Tap("lang", "mn"), at(1))
    v = p.view()
    assert v.lang == "mn"
    assert v.texts()[:3] == ["ᠠᠵᠢᠯ ᠬᠡᠷᠡᠭ ᠢ᠋ᠶ᠋ᠡᠨ ᠰᠣᠩᠭᠣᠨ᠎ᠠ ᠤᠤ", "ᠶᠡᠷᠦᠩᠬᠡᠢ", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ 4 ᠂ 11 ᠮᠢᠨᠦ᠋ᠲ"]
    p.handle(Tap("service", "general"), at(2))
    p.handle(IssueDone(TICKET, "C"), at(3))
    p.handle(PrintDone(), at(4))
    assert p.view().texts()[:4] == ["ᠲᠠᠨ ᠤ᠋ ᠳ᠋ᠤᠭᠠᠷ", "A005", "ᠡᠮᠦᠨ᠎ᠡ ᠪᠡᠨ 4 ᠬᠦᠮᠦᠨ", "ᠬᠦᠯᠢᠶᠡᠬᠦ ᠬᠤᠭᠤᠴᠠᠭ᠎ᠠ 11 ᠮᠢᠨᠦ᠋ᠲ"]


def test_every_text_has_both_languages_in_standard_unicode() -> None:
    for key, m in WORDS.items():
        assert m.zh and m.mn, key
        assert not any(0xE000 <= ord(c) <= 0xF8FF for c in m.mn), f"{key}: presentation forms"
        assert any(0x1820 <= ord(c) <= 0x18AF for c in m.mn), f"{key}: no Mongolian letters"


def test_elder_mode_has_fewer_larger_choices() -> None:
    cfg = parse_config(small_hall(services=[{"id": f"s{i}", "prefix": chr(65 + i), "name": {"zh": f"业务{i}"}}
                                            for i in range(7)],
                                  windows=[{"id": "1", "services": [f"s{i}" for i in range(7)]}],
                                  staff=[], kiosks=[{"id": "k1"}]))
    p = KioskPresenter(cfg, cfg.kiosks[0], T0)
    p.handle(ControllerChanged(True), T0)
    p.handle(Tap("lang", "zh"), at(1))
    assert len([b for b in p.view().buttons if b.action == "service"]) == 7
    p.handle(Tap("home"), at(2))
    p.handle(Tap("elder", "zh"), at(3))
    v = p.view()
    assert v.elder and len([b for b in v.buttons if b.action == "service"]) == 4


def test_print_failure_keeps_the_ticket_and_offers_reprint() -> None:
    p = presenter()
    p.handle(Tap("lang", "zh"), at(1))
    p.handle(Tap("service", "general"), at(2))
    p.handle(IssueDone(TICKET, "C"), at(3))
    p.handle(PrintFailed("paper_out", "printer k1: out of paper"), at(4))
    v = p.view()
    assert v.screen is Screen.ERROR and v.number == "A005"
    assert v.texts() == ["您的号码", "A005", "号票打印失败：打印机缺纸，请联系工作人员",
                         "您的号码 A005 已取得，仍然有效，请记住号码或重新打印", "重新打印", "回首页"]
    (effect,) = p.handle(Tap("reprint"), at(5))
    assert isinstance(effect, PrintTicket) and effect.ticket.number == "A005"
    assert p.view().screen is Screen.PRINTING
    p.handle(PrintDone(), at(6))
    assert p.view().screen is Screen.RESULT


def test_controller_away_and_printer_out_block_issuing_with_a_banner() -> None:
    p = presenter()
    p.handle(Tap("lang", "zh"), at(1))
    p.handle(ControllerChanged(False), at(2))
    v = p.view()
    assert v.banner == WORDS["offline"] and not any(b.enabled for b in v.buttons if b.action == "service")
    assert p.handle(Tap("service", "general"), at(3)) == []
    p.handle(ControllerChanged(True), at(4))
    p.handle(PrinterChanged("paper_out"), at(5))
    assert p.view().banner == WORDS["paper_out"]
    p.handle(PrinterChanged("paper_near_end"), at(6))
    assert p.view().banner is None and p.handle(Tap("service", "general"), at(7)) != []


def test_issue_refusals_are_explained() -> None:
    for code, text in (("SERVICE_CLOSED", "该业务现在不能取号"),
                       ("ALREADY_WAITING", "您已持有该业务的号码，请等候叫号"),
                       ("TIMEOUT", "取号未成功，请重试或联系工作人员")):
        p = presenter()
        p.handle(Tap("lang", "zh"), at(1))
        p.handle(Tap("service", "general"), at(2))
        p.handle(IssueFailed(code, "x"), at(3))
        assert text in p.view().texts(), code
        p.handle(Tap("back"), at(4))
        assert p.view().screen is Screen.SERVICES


def test_idle_timeout_goes_home_and_forgets_the_visitor() -> None:
    p = presenter()
    p.handle(Tap("scan", "zh"), at(1))
    p.handle(CredentialRead("msb:abc", "巴特尔", Msg("年满76周岁", "76 ᠨᠠᠰᠤ")), at(2))
    assert "巴特尔，您好" in p.view().texts()
    p.handle(Touch(), at(20))
    p.handle(Tick(), at(49))
    assert p.view().screen is Screen.SERVICES
    p.handle(Tick(), at(50.5))
    assert p.view().screen is Screen.HOME and p.visit.holder_key is None


def test_green_channel_by_credential() -> None:
    p = presenter()
    p.handle(Tap("green", "zh"), at(1))
    assert p.view().texts()[1].startswith("绿色通道需核验身份")
    p.handle(CredentialRead("msb:abc", "巴特尔", Msg("军人", "ᠴᠡᠷᠢᠭ"), token="MSB1.tok"), at(2))
    assert "已为您开通绿色通道（军人）" in p.view().texts()
    assert p.handle(Tap("service", "general"), at(3)) == [IssueTicket("general", "green", "MSB1.tok", "kiosk:k1")]


def test_green_channel_refused_without_grounds_allows_a_normal_ticket() -> None:
    p = presenter()
    p.handle(Tap("green", "zh"), at(1))
    p.handle(CredentialRead("msb:abc", "张三", None, token="MSB1.t2"), at(2))
    assert p.view().screen is Screen.ERROR
    assert p.view().texts()[1] == "您的证照不符合绿色通道条件，可正常取号或到导服台咨询"
    p.handle(Tap("back"), at(3))
    assert p.handle(Tap("service", "general"), at(4)) == [IssueTicket("general", "normal", "MSB1.t2", "kiosk:k1")]


def test_appointment_issues_its_service_directly() -> None:
    p = presenter()
    p.handle(Tap("appointment", "zh"), at(1))
    assert p.handle(AppointmentRead("msb:abc", "张三", "tax", token="APT1.t3"), at(2)) == [
        IssueTicket("tax", "appointment", "APT1.t3", "appointment:k1")]
    assert p.view().texts() == ["正在取号，请稍候", "预约业务：税务"]


def test_rejected_scan_and_ticket_lookup() -> None:
    p = presenter()
    p.handle(Tap("scan", "zh"), at(1))
    p.handle(ScanRejected(Msg("二维码已过期，请在蒙速办中刷新后重新扫码", "ᠳᠠᠬᠢᠨ")), at(2))
    assert p.view().texts()[1] == "二维码已过期，请在蒙速办中刷新后重新扫码"
    p.handle(Tap("back"), at(3))
    assert p.view().screen is Screen.SCAN
    p.handle(Tap("home"), at(4))
    assert p.handle(TicketRead("test-hall", date(2026, 11, 23), "A005"), at(5)) == [
        LookupTicket("A005", date(2026, 11, 23))]
    p.handle(LookupDone({**TICKET, "ahead": 2}), at(6))
    assert p.view().texts() == ["您的号码", "A005", "等候中，前面还有 2 人", "回首页"]
    p.handle(Tap("home"), at(7))
    p.handle(TicketRead("other-hall", date(2026, 11, 23), "A005"), at(8))
    assert "这张号票不是本厅的" in p.view().texts()


@pytest.mark.parametrize("intent", [CredentialRead("msb:x", "某人"), ScanRejected(Msg("x", "x"))])
def test_scans_while_printing_are_ignored(intent: Any) -> None:
    p = presenter()
    p.handle(Tap("lang", "zh"), at(1))
    p.handle(Tap("service", "general"), at(2))
    p.handle(IssueDone(TICKET, "C"), at(3))
    assert p.handle(intent, at(4)) == [] and p.view().screen is Screen.PRINTING
