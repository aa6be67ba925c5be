"""Every word a citizen reads or hears from hallq, in Chinese and traditional Mongolian, in one table.

The kiosk screens, the ticket, the hall call screen and its LED boards all take their texts from
`WORDS`, so a hall has the Mongolian reviewed in one place and a citizen reads the same words on the
slip, the kiosk and the screen. Mongolian is standard Unicode, shaped at render time
(hallq/text/render.py). `{name}` fields are filled by `Msg.format` / `msg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["zh", "mn"]


@dataclass(frozen=True)
class Msg:
    """One text in both languages (shown Mongolian first: left of / before the Chinese)."""

    zh: str
    mn: str

    def get(self, lang: Lang) -> str:
        return self.mn if lang == "mn" and self.mn else self.zh

    def format(self, **kw: object) -> Msg:
        """Fill the fields; a Msg value gives each language its own word."""
        zh = {k: v.zh if isinstance(v, Msg) else v for k, v in kw.items()}
        mn = {k: v.get("mn") if isinstance(v, Msg) else v for k, v in kw.items()}
        return Msg(self.zh.format(**zh), self.mn.format(**mn))


def join(*parts: Msg, sep: str = " · ", sep_mn: str = " ᠂ ") -> Msg:
    """Several texts on one line, in both languages (Mongolian fonts have no middle dot: ᠂ instead)."""
    return Msg(sep.join(p.zh for p in parts if p.zh), sep_mn.join(p.get("mn") for p in parts if p.zh))


_MN_TRY_AGAIN = "ᠳᠠᠬᠢᠨ ᠤᠷᠤᠯᠳᠤᠨ᠎ᠠ ᠤᠤ"                      # please try again
_MN_ASK_STAFF = "ᠠᠵᠢᠯᠲᠠᠨ\u202fᠳᠤ ᠬᠠᠨᠳᠤᠨ᠎ᠠ ᠤᠤ"               # please ask a member of staff

WORDS: dict[str, Msg] = {
    # -- kiosk screens -------------------------------------------------------------------------
    "welcome": Msg("欢迎光临", "ᠮᠡᠨᠳᠦ ᠬᠦᠷᠭᠡᠶ᠎ᠡ"),
    "take_number": Msg("取号", "ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠬᠤ"),
    "elder": Msg("长者模式 · 大字", "ᠥᠨᠳᠥᠷ ᠨᠠᠰᠤᠲᠠᠨ ᠤ᠋ ᠬᠡᠯᠪᠡᠷᠢ"),
    "green": Msg("绿色通道", "ᠨᠣᠭᠣᠭᠠᠨ ᠵᠠᠮ"),
    "green_who": Msg("军人、消防救援人员、医护人员、老弱病残孕优先办理",
                     "ᠴᠡᠷᠢᠭ ᠂ ᠭᠠᠯ ᠣᠨᠴᠠ ᠪᠠᠢᠳᠠᠯ ᠤ᠋ᠨ ᠠᠪᠤᠷᠠᠯᠲᠠ ᠂ ᠡᠮᠨᠡᠯᠭᠡ ᠂ ᠥᠨᠳᠥᠷ ᠨᠠᠰᠤᠲᠠᠨ ᠢ᠋ ᠤᠷᠢᠳᠠᠯᠠᠨ"),
    "scan_msb": Msg("扫蒙速办码取号", "ᠮᠣᠩᠭᠣᠯ ᠬᠤᠷᠳᠤᠨ ᠠᠯᠪᠠ ᠪᠠᠷ ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠬᠤ"),
    "appointment": Msg("预约签到", "ᠤᠷᠢᠳᠴᠢᠯᠠᠨ ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ ᠢ᠋ ᠪᠦᠷᠢᠳᠬᠡᠬᠦ"),
    "choose_service": Msg("请选择办理的业务", "ᠠᠵᠢᠯ ᠬᠡᠷᠡᠭ ᠢ᠋ᠶ᠋ᠡᠨ ᠰᠣᠩᠭᠣᠨ᠎ᠠ ᠤᠤ"),
    "waiting_n": Msg("等候 {n} 人", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ {n}"),
    "wait_min": Msg("约 {m} 分钟", "{m} ᠮᠢᠨᠦ᠋ᠲ"),
    "wait_unknown": Msg("暂无窗口", "ᠴᠣᠩᠬᠣ ᠦᠭᠡᠢ"),
    "closed": Msg("暂停取号", "ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠬᠤ ᠵᠣᠭᠰᠠᠪᠠ"),
    "quota": Msg("今日号已发完", "ᠥᠨᠥᠳᠥᠷ ᠤ᠋ᠨ ᠳ᠋ᠤᠭᠠᠷ ᠳᠠᠭᠤᠰᠪᠠ"),
    "back": Msg("返回", "ᠪᠤᠴᠠᠬᠤ"),
    "home": Msg("回首页", "ᠨᠢᠭᠤᠷ ᠬᠠᠭᠤᠳᠠᠰᠤ"),
    "show_msb": Msg("请将蒙速办二维码对准扫码口", "ᠮᠣᠩᠭᠣᠯ ᠬᠤᠷᠳᠤᠨ ᠠᠯᠪᠠ ᠶ᠋ᠢᠨ ᠺᠣᠳ᠋ ᠢ᠋ᠶ᠋ᠠᠨ ᠰᠢᠷᠪᠢᠭᠦᠯᠦᠨ᠎ᠡ ᠦᠦ"),
    "show_appointment": Msg("请出示预约二维码", "ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ ᠺᠣᠳ᠋ ᠢ᠋ᠶ᠋ᠠᠨ ᠰᠢᠷᠪᠢᠭᠦᠯᠦᠨ᠎ᠡ ᠦᠦ"),
    "green_scan": Msg("绿色通道需核验身份：请扫蒙速办码；无码请到导服台由工作人员办理",
                      "ᠨᠣᠭᠣᠭᠠᠨ ᠵᠠᠮ ᠢ᠋ ᠮᠣᠩᠭᠣᠯ ᠬᠤᠷᠳᠤᠨ ᠠᠯᠪᠠ ᠪᠠᠷ ᠰᠢᠯᠭᠠᠨ᠎ᠠ ᠂ ᠦᠭᠡᠢ ᠪᠣᠯ ᠠᠵᠢᠯᠲᠠᠨ ᠳ᠋ᠤ ᠬᠠᠨᠳᠤᠨ᠎ᠠ ᠤᠤ"),
    "green_yes": Msg("已为您开通绿色通道（{reason}）", "ᠨᠣᠭᠣᠭᠠᠨ ᠵᠠᠮ ᠨᠡᠭᠡᠭᠡᠪᠡ ({reason})"),
    "green_no": Msg("您的证照不符合绿色通道条件，可正常取号或到导服台咨询",
                    "ᠨᠣᠭᠣᠭᠠᠨ ᠵᠠᠮ ᠤ᠋ᠨ ᠨᠥᠬᠦᠴᠡᠯ ᠳ᠋ᠦ ᠲᠣᠬᠢᠷᠠᠬᠤ ᠦᠭᠡᠢ ᠂ ᠡᠩ ᠦ᠋ᠨ ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠤᠨ᠎ᠠ ᠤᠤ"),
    "hello_holder": Msg("{name}，您好", "{name} ᠰᠠᠶᠢᠨ ᠪᠠᠶᠢᠨ᠎ᠠ ᠤᠤ"),
    "printing": Msg("正在打印号票，请稍候", "ᠳ᠋ᠤᠭᠠᠷ ᠢ᠋ ᠳᠠᠷᠤᠮᠠᠯᠵᠤ ᠪᠠᠶᠢᠨ᠎ᠠ"),
    "issuing": Msg("正在取号，请稍候", "ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠴᠤ ᠪᠠᠶᠢᠨ᠎ᠠ"),
    "your_number": Msg("您的号码", "ᠲᠠᠨ ᠤ᠋ ᠳ᠋ᠤᠭᠠᠷ"),
    "ahead_n": Msg("前面还有 {n} 人", "ᠡᠮᠦᠨ᠎ᠡ ᠪᠡᠨ {n} ᠬᠦᠮᠦᠨ"),
    "est_wait": Msg("预计等待 {m} 分钟", "ᠬᠦᠯᠢᠶᠡᠬᠦ ᠬᠤᠭᠤᠴᠠᠭ᠎ᠠ {m} ᠮᠢᠨᠦ᠋ᠲ"),
    "est_wait_unknown": Msg("等待时间以叫号为准", "ᠳ᠋ᠤᠭᠠᠷ ᠳᠠᠭᠤᠳᠠᠬᠤ ᠵᠢ ᠬᠦᠯᠢᠶᠡᠨ᠎ᠡ ᠦᠦ"),
    "take_ticket": Msg("请取走号票，留意叫号", "ᠳ᠋ᠤᠭᠠᠷ ᠤ᠋ᠨ ᠲᠠᠰᠤᠭ ᠢ᠋ᠶ᠋ᠠᠨ ᠠᠪᠤᠨ᠎ᠠ ᠤᠤ"),
    "print_failed": Msg("号票打印失败", "ᠳᠠᠷᠤᠮᠠᠯᠠᠯᠳᠠ ᠪᠦᠲᠦᠭᠰᠡᠨ ᠦᠭᠡᠢ"),
    "number_valid": Msg("您的号码 {number} 已取得，仍然有效，请记住号码或重新打印",
                        "ᠲᠠᠨ ᠤ᠋ ᠳ᠋ᠤᠭᠠᠷ {number} ᠬᠦᠴᠦᠨ ᠲᠡᠢ"),
    "reprint": Msg("重新打印", "ᠳᠠᠬᠢᠵᠤ ᠳᠠᠷᠤᠮᠠᠯᠠᠬᠤ"),
    "paper_out": Msg("打印机缺纸，请联系工作人员", "ᠴᠠᠭᠠᠰᠤ ᠳᠠᠭᠤᠰᠪᠠ ᠂ ᠠᠵᠢᠯᠲᠠᠨ ᠳ᠋ᠤ ᠬᠡᠯᠡᠭᠡᠷᠡᠢ"),
    "printer_fault": Msg("打印机故障，请联系工作人员", "ᠳᠠᠷᠤᠮᠠᠯ ᠤ᠋ᠨ ᠮᠠᠰᠢᠨ ᠡᠪᠳᠡᠷᠡᠪᠡ ᠂ ᠠᠵᠢᠯᠲᠠᠨ ᠳ᠋ᠤ ᠬᠡᠯᠡᠭᠡᠷᠡᠢ"),
    "offline": Msg("系统连接中，请稍候", "ᠰᠢᠰᠲ᠋ᠧᠮ ᠵᠠᠯᠭᠠᠵᠤ ᠪᠠᠶᠢᠨ᠎ᠠ ᠂ ᠲᠦᠷ ᠬᠦᠯᠢᠶᠡᠨ᠎ᠡ ᠦᠦ"),
    "service_closed": Msg("该业务现在不能取号", "ᠡᠨᠡ ᠠᠵᠢᠯ ᠳ᠋ᠤ ᠣᠳᠣ ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠬᠤ ᠪᠣᠯᠤᠮᠵᠢ ᠦᠭᠡᠢ"),
    "already_waiting": Msg("您已持有该业务的号码，请等候叫号", "ᠲᠠ ᠡᠨᠡ ᠠᠵᠢᠯ ᠤ᠋ᠨ ᠳ᠋ᠤᠭᠠᠷ ᠲᠠᠶ ᠪᠣᠯᠵᠠᠢ"),
    "issue_failed": Msg("取号未成功，请重试或联系工作人员", "ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠴᠤ ᠳᠡᠶᠢᠯᠦᠭᠰᠡᠨ ᠦᠭᠡᠢ ᠂ ᠳᠠᠬᠢᠨ ᠣᠷᠣᠯᠳᠣᠨ᠎ᠠ ᠤᠤ"),
    "not_recognised": Msg("无法识别此二维码，请出示蒙速办码、预约码或本厅号票",
                          "ᠡᠨᠡ ᠺᠣᠳ᠋ ᠢ᠋ ᠲᠠᠨᠢᠬᠤ ᠦᠭᠡᠢ"),
    "st_waiting": Msg("等候中，前面还有 {n} 人", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠨ᠎ᠠ ᠂ ᠡᠮᠦᠨ᠎ᠡ ᠪᠡᠨ {n} ᠬᠦᠮᠦᠨ"),
    "st_serving": Msg("请到 {window} 号窗口办理", "{window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ"),
    "st_finished": Msg("已办结，可用手机扫号票二维码补充评价", "ᠳᠠᠭᠤᠰᠪᠠ ᠂ ᠦᠨᠡᠯᠡᠭᠡ ᠥᠭᠴᠦ ᠪᠣᠯᠣᠨ᠎ᠠ"),
    "st_no_show": Msg("已过号，请重新取号", "ᠳ᠋ᠤᠭᠠᠷ ᠥᠩᠭᠡᠷᠡᠪᠡ ᠂ ᠳᠠᠬᠢᠨ ᠠᠪᠤᠨ᠎ᠠ ᠤᠤ"),
    "ticket_other_hall": Msg("这张号票不是本厅的", "ᠡᠨᠡ ᠲᠠᠰᠤᠭ ᠡᠨᠡ ᠲᠢᠩ ᠦ᠋ᠨ ᠪᠢᠰᠢ"),
    "ticket_unknown": Msg("查不到这张号票", "ᠡᠨᠡ ᠲᠠᠰᠤᠭ ᠢ᠋ ᠣᠯᠬᠤ ᠦᠭᠡᠢ"),
    "appointment_for": Msg("预约业务：{service}", "ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ ᠠᠵᠢᠯ : {service}"),
    # -- the ID card at the kiosk (docs/idcard.md) and spoken guidance (docs/kiosk.md) ---------------
    "idcard": Msg("刷身份证取号", "ᠪᠡᠶ᠎ᠡ ᠶ᠋ᠢᠨ ᠦᠨᠡᠮᠯᠡᠯ ᠵᠢᠡᠷ ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠬᠤ"),
    "idcard_place": Msg("请将身份证放在读卡区，直到屏幕变化", "ᠪᠡᠶ᠎ᠡ ᠶ᠋ᠢᠨ ᠦᠨᠡᠮᠯᠡᠯ ᠢ᠋ᠶ᠋ᠡᠨ ᠤᠩᠱᠢᠭᠤᠷ ᠲᠤ ᠲᠠᠯᠪᠢᠨ᠎ᠠ ᠤᠤ"),
    "idcard_home": Msg("也可刷身份证取号", "ᠪᠡᠶ᠎ᠡ ᠶ᠋ᠢᠨ ᠦᠨᠡᠮᠯᠡᠯ ᠵᠢᠡᠷ ᠴᠦ ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠴᠤ ᠪᠣᠯᠣᠨ᠎ᠠ"),
    "idcard_number": Msg("身份证 {masked}", "ᠦᠨᠡᠮᠯᠡᠯ {masked}"),
    "idcard_elder": Msg("已为您开启长者模式", "ᠥᠨᠳᠥᠷ ᠨᠠᠰᠤᠲᠠᠨ ᠤ᠋ ᠬᠡᠯᠪᠡᠷᠢ ᠶ᠋ᠢ ᠨᠡᠭᠡᠭᠡᠪᠡ"),
    "idcard_moved": Msg("读卡时身份证被移开，请重新放好，屏幕变化前不要拿开",
                        "ᠦᠨᠡᠮᠯᠡᠯ ᠢ᠋ ᠤᠩᠱᠢᠵᠤ ᠳᠠᠭᠤᠰᠤᠭ᠎ᠠ ᠦᠭᠡᠢ ᠂ " + _MN_TRY_AGAIN),
    "idcard_not_genuine": Msg("无法核验此证件，请到导服台由工作人员办理", _MN_ASK_STAFF),
    "idcard_unsupported": Msg("本机暂不支持此类证件，请到导服台由工作人员办理", _MN_ASK_STAFF),
    "idcard_unreadable": Msg("无法读取此身份证，请重新放置；仍不行请到导服台办理", _MN_TRY_AGAIN),
    "idcard_expired": Msg("您的身份证已过有效期，请到导服台由工作人员办理", _MN_ASK_STAFF),
    "idcard_down": Msg("身份证读卡器暂不可用，请扫蒙速办码或到导服台取号", _MN_ASK_STAFF),
    "reprinted": Msg("您已有该业务的号码，已为您重新打印", "ᠲᠠ ᠡᠨᠡ ᠠᠵᠢᠯ ᠤ᠋ᠨ ᠳ᠋ᠤᠭᠠᠷ ᠲᠠᠶ ᠂ ᠳᠠᠬᠢᠵᠤ ᠳᠠᠷᠤᠮᠠᠯᠠᠪᠠ"),
    "repeat": Msg("再听一遍", "ᠳᠠᠬᠢᠨ ᠰᠣᠨᠣᠰᠬᠤ"),
    "area_at": Msg("办理地点：{area}", "ᠪᠠᠶᠢᠷᠢ : {area}"),
    # -- a service's own opening hours and appointment-only days (hallq/opening.py) on its button --------
    "hours_today": Msg("今日 {spans}", "ᠥᠨᠥᠳᠥᠷ {spans}"),
    "opens_at": Msg("{time} 起取号", "{time} ᠴᠠᠭ ᠠᠴᠠ ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠨ᠎ᠠ"),
    "issuing_stopped": Msg("已停止取号", "ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠬᠤ ᠵᠣᠭᠰᠠᠪᠠ"),
    "closed_today": Msg("今日不取号", "ᠥᠨᠥᠳᠥᠷ ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠬᠤ ᠦᠭᠡᠢ"),
    "appointment_only": Msg("今日仅限预约", "ᠥᠨᠥᠳᠥᠷ ᠵᠥᠪᠬᠡᠨ ᠤᠷᠢᠳᠴᠢᠯᠠᠨ ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ"),
    "appointment_hint": Msg("已预约的群众请回首页点「预约签到」扫预约码", "ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ ᠺᠣᠳ᠋ ᠢ᠋ᠶ᠋ᠠᠨ ᠰᠢᠷᠪᠢᠭᠦᠯᠦᠨ᠎ᠡ ᠦᠦ"),
    # -- scanned codes refused (hallq/msb/credentials.py): what the citizen reads and what to do next -------
    "credential_malformed": Msg("无法识别此二维码，请在蒙速办中刷新后重新扫码", _MN_TRY_AGAIN),
    "credential_unknown_issuer": Msg("本大厅暂不支持此二维码，请咨询工作人员", _MN_ASK_STAFF),
    "credential_forged": Msg("二维码无效，请在蒙速办中刷新后重新扫码，或咨询工作人员", _MN_ASK_STAFF),
    "credential_expired": Msg("二维码已过期，请在蒙速办中刷新后重新扫码", _MN_TRY_AGAIN),
    "credential_not_yet_valid": Msg("二维码尚未生效，请检查手机时间，在蒙速办中刷新后重新扫码", _MN_TRY_AGAIN),
    "credential_replayed": Msg("此二维码已使用过，请在蒙速办中刷新后重新扫码", _MN_TRY_AGAIN),
    "credential_wrong_hall": Msg("此预约不在本大厅办理，请核对预约地点或咨询工作人员", _MN_ASK_STAFF),
    "credential_too_early": Msg("还未到签到时间，请稍后再扫码签到", _MN_TRY_AGAIN),
    "credential_too_early_at": Msg("还未到签到时间，请于{time}以后再扫码签到", _MN_TRY_AGAIN),
    "credential_too_late": Msg("已超过预约签到时间，请直接取号或咨询工作人员", _MN_ASK_STAFF),
    "credential_checked_in": Msg("此预约已签到，无需重复签到；如有疑问请咨询工作人员", _MN_ASK_STAFF),
    # -- the ticket --------------------------------------------------------------------------------
    "issued_at": Msg("取号时间 {time}", "ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠤᠭᠰᠠᠨ ᠴᠠᠭ {time}"),
    "scan_to_follow": Msg("扫码查询进度、补充评价", "ᠺᠣᠳ᠋ ᠢ᠋ ᠰᠢᠷᠪᠢᠵᠦ ᠦᠨᠡᠯᠡᠭᠡ ᠥᠭᠴᠦ ᠪᠣᠯᠣᠨ᠎ᠠ"),
    "ticket_notice": Msg("请留意叫号，过号请重新取号", "ᠳ᠋ᠤᠭᠠᠷ ᠳᠠᠭᠤᠳᠠᠬᠤ ᠵᠢ ᠰᠠᠨᠠᠭᠠᠯᠠᠨ᠎ᠠ ᠤᠤ"),
    # -- hall call screen and LED boards -----------------------------------------------------------
    "call_area": Msg("请 {number} 号到 {area} {window} 号窗口办理",
                     "{number} ᠳ᠋ᠤᠭᠠᠷ ᠂ {area} {window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ"),
    "recent_area": Msg("{area} {window}号窗口", "{area} {window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ"),
    "call": Msg("请 {number} 号到 {window} 号窗口办理", "{number} ᠳ᠋ᠤᠭᠠᠷ ᠂ {window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ"),
    "recent": Msg("{window}号窗口", "{window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ"),
    "notice": Msg("请留意叫号，过号请重新取号。",
                  "ᠳ᠋ᠤᠭᠠᠷ ᠳᠠᠭᠤᠳᠠᠬᠤ ᠵᠢ ᠬᠦᠯᠢᠶᠡᠨ᠎ᠡ ᠦᠦ ᠂ ᠳ᠋ᠤᠭᠠᠷ ᠥᠩᠭᠡᠷᠡᠪᠡ ᠂ ᠳᠠᠬᠢᠨ ᠠᠪᠤᠨ᠎ᠠ ᠤᠤ"),
}


def msg(key: str, **kw: object) -> Msg:
    """A text of the table, with its fields filled in."""
    m = WORDS[key]
    return m.format(**kw) if kw else m
