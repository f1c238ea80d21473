"""Japanese strings of the reports UI and the public unsubscribe/preference pages."""
JA = {
    # public pages
    "Email preferences": "メール配信設定",
    "Unsubscribe": "配信停止",
    "Unsubscribed": "配信停止済み",
    "Do you want to stop receiving our emails?": "メールの配信を停止しますか？",
    "Unsubscribe from all emails": "すべてのメールの配信を停止する",
    "Or choose which emails you receive": "受け取るメールを選ぶ",
    "You are unsubscribed": "配信を停止しました",
    "You will not receive any more emails from us, including ones already scheduled.":
        "今後、予約済みのものも含めてメールは届きません。",
    "Link not valid": "無効なリンク",
    "This link is not valid": "このリンクは無効です",
    "Please use the link from the most recent email you received from us.":
        "最近お送りしたメールのリンクをご利用ください。",
    "You left that series. Your other emails are unchanged.": "このシリーズの配信を停止しました。その他のメールは引き続き届きます。",
    "You are unsubscribed from all emails.": "すべてのメールの配信を停止しました。",
    "You do not receive our emails.": "現在メールは配信されていません。",
    "You receive these email series:": "次のシリーズを受信しています：",
    "Stop this series": "このシリーズを停止",
    "You are not in any email series right now.": "現在受信中のシリーズはありません。",
}
