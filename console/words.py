"""The web console's words for staff in Chinese and Mongolian: page texts and every controller error in words.

Citizen-facing texts come from hallq.text.words (the same words as the kiosk and the ticket). The Mongolian
here is standard Unicode, shaped by the browser; a hall has it reviewed like the kiosk's table.
"""

from __future__ import annotations

from hallq.text.words import WORDS, Lang, Msg

UI: dict[str, Msg] = {
    "console": Msg("工作台", "ᠠᠵᠢᠯ ᠤ᠋ᠨ ᠰᠢᠷᠡᠭᠡ"),
    "signin": Msg("登录", "ᠨᠡᠪᠲᠡᠷᠡᠬᠦ"),
    "signout": Msg("退出", "ᠭᠠᠷᠬᠤ"),
    "staff_id": Msg("工号", "ᠠᠵᠢᠯᠲᠠᠨ ᠤ᠋ ᠳ᠋ᠤᠭᠠᠷ"),
    "password": Msg("密码", "ᠨᠢᠭᠤᠴᠠ ᠺᠣᠳ᠋"),
    "language": Msg("语言", "ᠬᠡᠯᠡ"),
    "window": Msg("窗口", "ᠴᠣᠩᠬᠣ"),
    "window_n": Msg("{window} 号窗口", "{window} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ"),
    "choose_window": Msg("请选择您所在的窗口", "ᠴᠣᠩᠬᠣ ᠪᠠᠨ ᠰᠣᠩᠭᠣᠨ᠎ᠠ ᠤᠤ"),
    "login_window": Msg("在此窗口上岗", "ᠡᠨᠡ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠠᠵᠢᠯᠯᠠᠬᠤ"),
    "logout_window": Msg("离岗", "ᠠᠵᠢᠯ ᠠᠴᠠ ᠭᠠᠷᠬᠤ"),
    "call": Msg("叫号", "ᠳ᠋ᠤᠭᠠᠷ ᠳᠠᠭᠤᠳᠠᠬᠤ"),
    "recall": Msg("重呼", "ᠳᠠᠬᠢᠨ ᠳᠠᠭᠤᠳᠠᠬᠤ"),
    "finish": Msg("办结", "ᠳᠠᠭᠤᠰᠬᠠᠬᠤ"),
    "skip": Msg("过号", "ᠥᠩᠭᠡᠷᠡᠭᠦᠯᠬᠦ"),
    "hold": Msg("挂起", "ᠲᠦᠷ ᠵᠣᠭᠰᠣᠭᠠᠬᠤ"),
    "hold_note": Msg("挂起说明（如：补交材料）", "ᠲᠠᠶᠢᠯᠪᠤᠷᠢ"),
    "callback": Msg("回呼挂起号", "ᠵᠣᠭᠰᠣᠭᠠᠭᠰᠠᠨ ᠢ᠋ ᠳᠠᠭᠤᠳᠠᠬᠤ"),
    "call_number": Msg("指定叫号", "ᠳ᠋ᠤᠭᠠᠷ ᠰᠣᠩᠭᠣᠵᠤ ᠳᠠᠭᠤᠳᠠᠬᠤ"),
    "transfer": Msg("转移业务", "ᠠᠵᠢᠯ ᠰᠢᠯᠵᠢᠭᠦᠯᠬᠦ"),
    "pause": Msg("暂停", "ᠲᠦᠷ ᠵᠣᠭᠰᠣᠬᠤ"),
    "pause_reason": Msg("暂停原因", "ᠵᠣᠭᠰᠣᠬᠤ ᠰᠢᠯᠲᠠᠭᠠᠨ"),
    "resume": Msg("恢复", "ᠰᠡᠷᠭᠦᠭᠡᠬᠦ"),
    "confirm": Msg("确定", "ᠪᠠᠲᠤᠯᠠᠬᠤ"),
    "cancel_dialog": Msg("取消", "ᠪᠣᠯᠢᠬᠤ"),
    "current": Msg("当前号", "ᠣᠳᠣᠬᠢ ᠳ᠋ᠤᠭᠠᠷ"),
    "served_for": Msg("已办理", "ᠠᠵᠢᠯᠯᠠᠭᠰᠠᠨ ᠬᠤᠭᠤᠴᠠᠭ᠎ᠠ"),
    "waiting": Msg("本窗口等候", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ"),
    "queue_waiting": Msg("等候人数", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ ᠬᠦᠮᠦᠨ"),
    "est_wait": Msg("预计等待", "ᠬᠦᠯᠢᠶᠡᠬᠦ ᠬᠤᠭᠤᠴᠠᠭ᠎ᠠ"),
    "held_list": Msg("挂起的号", "ᠵᠣᠭᠰᠣᠭᠠᠭᠰᠠᠨ ᠳ᠋ᠤᠭᠠᠷ"),
    "waiting_list": Msg("等候的号", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ ᠳ᠋ᠤᠭᠠᠷ"),
    "nobody": Msg("暂无", "ᠦᠭᠡᠢ"),
    "rating": Msg("评价", "ᠦᠨᠡᠯᠡᠭᠡ"),
    "awaiting_rating": Msg("等待群众评价", "ᠦᠨᠡᠯᠡᠭᠡ ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠨ᠎ᠠ"),
    "rated": Msg("群众评价：{level}", "ᠦᠨᠡᠯᠡᠭᠡ : {level}"),
    "status_closed": Msg("未上岗", "ᠠᠵᠢᠯᠯᠠᠬᠤ ᠦᠭᠡᠢ"),
    "status_idle": Msg("空闲", "ᠰᠤᠯᠠ"),
    "status_serving": Msg("办理中", "ᠠᠵᠢᠯᠯᠠᠵᠤ ᠪᠠᠶᠢᠨ᠎ᠠ"),
    "status_rating": Msg("评价中", "ᠦᠨᠡᠯᠡᠭᠡ ᠥᠭᠴᠦ ᠪᠠᠶᠢᠨ᠎ᠠ"),
    "status_paused": Msg("暂停中", "ᠲᠦᠷ ᠵᠣᠭᠰᠣᠭᠰᠠᠨ"),
    "nobody_waiting": Msg("暂无等候的群众", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ ᠬᠦᠮᠦᠨ ᠦᠭᠡᠢ"),
    "done": Msg("已完成", "ᠪᠣᠯᠪᠠ"),
    "keys": Msg("快捷键", "ᠳᠠᠷᠤᠭᠤᠯ"),
    "link_down": Msg("与叫号系统的连接中断，正在重连……", "ᠰᠢᠰᠲ᠋ᠧᠮ ᠵᠠᠯᠭᠠᠵᠤ ᠪᠠᠶᠢᠨ᠎ᠠ"),
    "reception": Msg("导服台", "ᠵᠠᠭᠠᠬᠤ ᠰᠢᠷᠡᠭᠡ"),
    "issue": Msg("取号", "ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠬᠤ"),
    "service": Msg("业务", "ᠠᠵᠢᠯ"),
    "green": WORDS["green"],
    "green_reason": Msg("绿色通道原因（必填）", "ᠨᠣᠭᠣᠭᠠᠨ ᠵᠠᠮ ᠤ᠋ᠨ ᠰᠢᠯᠲᠠᠭᠠᠨ"),
    "green_reason_needed": Msg("请填写绿色通道的原因", "ᠨᠣᠭᠣᠭᠠᠨ ᠵᠠᠮ ᠤ᠋ᠨ ᠰᠢᠯᠲᠠᠭᠠᠨ ᠢ᠋ ᠪᠢᠴᠢᠨ᠎ᠡ ᠦᠦ"),
    "issued": Msg("已取号 {number}", "{number} ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠪᠠ"),
    "queues": Msg("各业务排队", "ᠳ᠋ᠤᠭᠠᠷᠯᠠᠯᠳᠠ"),
    "cancel_ticket": Msg("作废此号", "ᠳ᠋ᠤᠭᠠᠷ ᠬᠦᠴᠦᠨ ᠦᠭᠡᠢ ᠪᠣᠯᠭᠠᠬᠤ"),
    "cancel_reason": Msg("作废原因（如：群众已离开）", "ᠰᠢᠯᠲᠠᠭᠠᠨ"),
    "cancelled": Msg("已作废 {number}", "{number} ᠬᠦᠴᠦᠨ ᠦᠭᠡᠢ ᠪᠣᠯᠪᠠ"),
    "windows": Msg("窗口状态", "ᠴᠣᠩᠬᠣ ᠨᠤᠭᠤᠳ"),
    "min": Msg("约 {m} 分钟", "{m} ᠮᠢᠨᠦ᠋ᠲ"),
    "open_alerts": Msg("未处理告警 {n} 条", "ᠰᠡᠷᠡᠮᠵᠢᠯᠡᠭᠦᠯᠦᠯᠭᠡ {n}"),
    "no_window_role": Msg("您的账号没有可上岗的窗口", "ᠲᠠᠨ ᠳ᠋ᠤ ᠴᠣᠩᠬᠣ ᠦᠭᠡᠢ"),
    "no_reception_role": Msg("导服台需要导服或管理角色", "ᠡᠷᠬᠡ ᠦᠭᠡᠢ"),
}

# every error the console or the controller can answer, in words a member of staff understands
ERRORS: dict[str, Msg] = {
    "BAD_CREDENTIALS": Msg("工号或密码不正确", "ᠳ᠋ᠤᠭᠠᠷ ᠪᠤᠶᠤ ᠨᠢᠭᠤᠴᠠ ᠺᠣᠳ᠋ ᠪᠤᠷᠤᠭᠤ"),
    "LOCKED_OUT": Msg("尝试次数过多，该工号已暂时锁定，请稍后再试或联系管理员",
                      "ᠣᠯᠠᠨ ᠤᠳᠠᠭ᠎ᠠ ᠪᠤᠷᠤᠭᠤ ᠣᠷᠣᠭᠤᠯᠪᠠ ᠂ ᠲᠦᠷ ᠬᠦᠯᠢᠶᠡᠨ᠎ᠡ ᠦᠦ"),
    "CSRF": Msg("页面已过期，请刷新页面后重试", "ᠨᠢᠭᠤᠷ ᠢ᠋ ᠰᠢᠨᠡᠳᠭᠡᠨ᠎ᠡ ᠦᠦ"),
    "UNAUTHENTICATED": Msg("登录已失效，请重新登录", "ᠳᠠᠬᠢᠨ ᠨᠡᠪᠲᠡᠷᠡᠨ᠎ᠡ ᠦᠦ"),
    "FORBIDDEN": Msg("您没有执行此操作的权限", "ᠡᠷᠬᠡ ᠦᠭᠡᠢ"),
    "BAD_REQUEST": Msg("请求内容有误，请检查后重试", "ᠪᠤᠷᠤᠭᠤ ᠬᠦᠰᠡᠯᠲᠡ"),
    "UNAVAILABLE": Msg("叫号系统暂时不可用，请稍后再试", "ᠰᠢᠰᠲ᠋ᠧᠮ ᠲᠦᠷ ᠠᠵᠢᠯᠯᠠᠬᠤ ᠦᠭᠡᠢ"),
    "TIMEOUT": Msg("叫号系统没有及时响应，请稍后再试", "ᠰᠢᠰᠲ᠋ᠧᠮ ᠬᠠᠷᠢᠭᠤ ᠥᠭᠴᠦ ᠦᠭᠡᠢ"),
    "NOT_FOUND": Msg("没有这个功能", "ᠣᠯᠳᠠᠭᠰᠠᠨ ᠦᠭᠡᠢ"),
    "UNKNOWN_WINDOW": Msg("没有这个窗口", "ᠡᠨᠡ ᠴᠣᠩᠬᠣ ᠦᠭᠡᠢ"),
    "UNKNOWN_STAFF": Msg("没有这个工号", "ᠡᠨᠡ ᠠᠵᠢᠯᠲᠠᠨ ᠦᠭᠡᠢ"),
    "UNKNOWN_SERVICE": Msg("没有这个业务", "ᠡᠨᠡ ᠠᠵᠢᠯ ᠦᠭᠡᠢ"),
    "UNKNOWN_TICKET": Msg("查不到这个号", "ᠡᠨᠡ ᠳ᠋ᠤᠭᠠᠷ ᠦᠭᠡᠢ"),
    "UNKNOWN_ALERT": Msg("查不到这条告警", "ᠡᠨᠡ ᠰᠡᠷᠡᠮᠵᠢᠯᠡᠭᠦᠯᠦᠯᠭᠡ ᠦᠭᠡᠢ"),
    "NOT_ALLOWED": Msg("您不能在这个窗口上岗", "ᠲᠠ ᠡᠨᠡ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠠᠵᠢᠯᠯᠠᠬᠤ ᠪᠣᠯᠤᠮᠵᠢ ᠦᠭᠡᠢ"),
    "NOT_LOGGED_IN": Msg("请先在本窗口上岗", "ᠤᠷᠢᠳᠠ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠨᠡᠪᠲᠡᠷᠡᠨ᠎ᠡ ᠦᠦ"),
    "PAUSED": Msg("窗口暂停中，请先恢复", "ᠴᠣᠩᠬᠣ ᠲᠦᠷ ᠵᠣᠭᠰᠣᠭᠰᠠᠨ ᠂ ᠤᠷᠢᠳᠠ ᠰᠡᠷᠭᠦᠭᠡᠨ᠎ᠡ ᠦᠦ"),
    "NO_CURRENT_TICKET": Msg("当前没有正在办理的号", "ᠣᠳᠣ ᠠᠵᠢᠯᠯᠠᠵᠤ ᠪᠠᠶᠢᠭ᠎ᠠ ᠳ᠋ᠤᠭᠠᠷ ᠦᠭᠡᠢ"),
    "RECALL_LIMIT": Msg("重呼次数已用完，可以过号", "ᠳᠠᠬᠢᠨ ᠳᠠᠭᠤᠳᠠᠬᠤ ᠬᠢᠵᠠᠭᠠᠷ ᠳ᠋ᠦ ᠬᠦᠷᠪᠡ"),
    "NOT_HELD": Msg("这个号没有被挂起", "ᠡᠨᠡ ᠳ᠋ᠤᠭᠠᠷ ᠵᠣᠭᠰᠣᠭᠠᠭᠰᠠᠨ ᠦᠭᠡᠢ"),
    "NOT_WAITING": Msg("这个号不在等候中（可能已叫号、办结或作废）", "ᠡᠨᠡ ᠳ᠋ᠤᠭᠠᠷ ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ ᠦᠭᠡᠢ"),
    "WRONG_SERVICE": Msg("这个号的业务不在本窗口办理范围内", "ᠡᠨᠡ ᠴᠣᠩᠬᠣ ᠡᠨᠡ ᠠᠵᠢᠯ ᠢ᠋ ᠬᠢᠳᠡᠭ ᠦᠭᠡᠢ"),
    "SERVICE_CLOSED": Msg("该业务现在不能取号", WORDS["service_closed"].mn),
    "ALREADY_WAITING": Msg("此人已持有该业务的号", WORDS["already_waiting"].mn),
    "ALREADY_ACKNOWLEDGED": Msg("这条告警已经处理过了", "ᠰᠢᠢᠳᠪᠦᠷᠢᠯᠡᠭᠰᠡᠨ"),
    "BAD_STATE": Msg("当前状态下不能这样操作", "ᠣᠳᠣ ᠪᠣᠯᠬᠤ ᠦᠭᠡᠢ"),
    "ERROR": Msg("操作没有成功", "ᠪᠦᠲᠦᠭᠰᠡᠨ ᠦᠭᠡᠢ"),
}


def ui(key: str, lang: Lang, **kw: object) -> str:
    m = UI[key]
    return (m.format(**kw) if kw else m).get(lang)


def error_text(code: str, lang: Lang) -> str:
    """The staff's words for an error code; an unknown code gets a general sentence (the code is shown beside)."""
    return ERRORS.get(code, ERRORS["ERROR"]).get(lang)


def table(lang: Lang) -> dict[str, dict[str, str]]:
    """Everything the pages' script needs, in one language, for JSON embedding."""
    return {"ui": {k: m.get(lang) for k, m in UI.items()},
            "errors": {k: m.get(lang) for k, m in ERRORS.items()}}
