"""Japanese strings of the confirmation step and of managing broadcasts (reschedule, duplicate, cancel, delete)."""
JA = {
    # the confirmation panel (campaigns/views/confirm.py, templates/ui/_confirm.html)
    "Who": "配信対象",
    "When": "配信日時",
    "Now": "今すぐ",
    "For example": "対象の例",
    "and %(n)s more": "ほか %(n)s 件",
    "No contact matches: nothing would be sent.": "該当するコンタクトがいないため、何も送信されません。",
    "This reaches %(n)s contacts. Type %(n)s to confirm.":
        "%(n)s 件のコンタクトが対象です。確認のため「%(n)s」と入力してください。",
    "Type the number of contacts, %(n)s, to confirm.":
        "確認のため、コンタクト数「%(n)s」を入力してください。入力された数が一致しません。",
    "The number of contacts changed from %(old)s to %(new)s since the confirmation was shown. "
    "Check again before you go ahead.":
        "確認画面を表示した後に、対象のコンタクト数が %(old)s 件から %(new)s 件に変わりました。"
        "内容をもう一度確認してください。",
    "Go back": "戻る",
    "Change": "変更する",
}
