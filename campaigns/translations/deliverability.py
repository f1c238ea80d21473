"""Japanese strings for bounces, complaints, the paused broadcast and the sender-identity checks."""

JA = {
    "paused": "一時停止",
    "Paused because": "一時停止の理由",
    "Resume broadcast": "配信を再開",
    "Broadcast resumed (%(n)s mails queued again).": "一斉配信を再開しました（%(n)s 通を再び送信待ちにしました）。",
    "This broadcast paused itself because too many recipients marked it as spam. Check the content and the audience before you resume it.":
        "迷惑メールとして報告した受信者が多すぎたため、この一斉配信は自動的に一時停止しました。再開する前に内容と配信先をご確認ください。",
}
