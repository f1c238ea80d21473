"""Japanese strings of the confirmation step and of managing broadcasts (reschedule, duplicate, cancel, delete)."""
JA = {
    # the confirmation panel (campaigns/views/confirm.py, templates/ui/_confirm.html)
    "Who": "対象",
    "When": "送信日時",
    "Right away": "今すぐ",
    "For example": "対象の例",
    "and %(n)s more": "ほか %(n)s 件",
    "No contact matches: nothing would be sent.": "該当するコンタクトがいないため、何も送信されません。",
    "This reaches %(n)s contacts. Type %(n)s to confirm.":
        "%(n)s 件のコンタクトが対象です。確認のため「%(n)s」と入力してください。",
    "Type the number of contacts, %(n)s, to confirm.":
        "入力された数が一致しません。確認のため、対象のコンタクト数「%(n)s」を入力してください。",
    "The number of contacts changed from %(old)s to %(new)s since the confirmation was shown. "
    "Check again before you go ahead.":
        "確認画面を表示した後に、対象のコンタクト数が %(old)s 件から %(new)s 件に変わりました。"
        "内容をもう一度確認してください。",
    "Go back": "戻る",
    "Change": "変更する",
    # broadcasts (campaigns/views/broadcasts.py, templates/ui/broadcasts/*)
    "Choose an audience…": "配信対象を選択…",
    "Continue": "次へ",
    "You see the number of recipients and a sample before anything is sent.":
        "送信前に、配信先の件数と対象の例を確認できます。",
    "You confirm the recipients and the time on the next page.": "次の画面で配信先と送信日時を確認します。",
    "Send “%(name)s” now": "「%(name)s」を今すぐ送信",
    "Schedule “%(name)s”": "「%(name)s」の配信を予約",
    "Reschedule “%(name)s”": "「%(name)s」の予約日時を変更",
    "Resume “%(name)s”": "「%(name)s」の配信を再開",
    "Send to %(n)s contacts now": "%(n)s 件に今すぐ送信する",
    "Schedule for %(n)s contacts": "%(n)s 件への配信を予約する",
    "Reschedule for %(n)s contacts": "%(n)s 件への配信日時を変更する",
    "The audience is counted again when the broadcast starts: contacts who join or leave it before then are "
    "included or left out.":
        "配信対象は配信開始時にもう一度集計されます。それまでに対象に加わったコンタクトには送信され、"
        "対象から外れたコンタクトには送信されません。",
    "A/B test: %(portion)s contacts get the %(k)s variants first. The other %(rest)s are held back and get the "
    "winning variant once the test decides.":
        "A/B テスト: まず %(portion)s 件に %(k)s 種類のパターンを送信します。残りの %(rest)s 件は保留され、"
        "テストで勝ちパターンが決まった後に送信されます。",
    "A/B test: %(portion)s contacts get the %(k)s variants first. The other %(rest)s are held back and get the "
    "variant you choose once the test has run.":
        "A/B テスト: まず %(portion)s 件に %(k)s 種類のパターンを送信します。残りの %(rest)s 件は保留され、"
        "テスト終了後にあなたが選んだパターンが送信されます。",
    "A/B test running: %(portion)s contacts got the variants. The rest of the audience is held back until the "
    "test decides.":
        "A/B テスト実施中: %(portion)s 件にテスト用のパターンを送信しました。残りの配信対象はテストの結果が"
        "出るまで保留されています。",
    "A/B test decided: the held-back part of the audience (%(n)s contacts) gets the chosen variant.":
        "A/B テストの結果が出ました: 保留されていた配信対象（%(n)s 件）に選ばれたパターンを送信します。",
    "Held back": "保留中の配信対象",
    "Broadcast rescheduled for %(when)s.": "配信予約を %(when)s に変更しました。",
    "Cancel “%(name)s”?": "「%(name)s」の配信をキャンセルしますか？",
    "Mails already sent stay sent; nothing else of this broadcast will go. A cancelled broadcast cannot be "
    "scheduled again: duplicate it to send it later.":
        "送信済みのメールは取り消せませんが、この一斉配信のこれ以降のメールは送信されません。"
        "キャンセルした配信は再び予約できません。後で送る場合は複製してください。",
    "Nothing of this broadcast has been sent, and nothing will be. A cancelled broadcast cannot be scheduled again: "
    "duplicate it to send it later.":
        "この一斉配信はまだ何も送信されておらず、今後も送信されません。キャンセルした配信は再び予約できません。"
        "後で送る場合は複製してください。",
    "Duplicated as a draft: choose when to send it.": "下書きとして複製しました。送信日時を選んでください。",
    "The draft is deleted. This cannot be undone.": "この下書きを削除します。元に戻すことはできません。",
    "Broadcast deleted.": "一斉配信を削除しました。",
    "Only a broadcast that sent nothing can be deleted; this one keeps its history.":
        "削除できるのは、まだ何も送信していない一斉配信だけです。この配信は履歴として残ります。",
    "a %(status)s broadcast cannot be resumed": "ステータスが %(status)s の一斉配信は再開できません",
    "only a scheduled broadcast can be rescheduled (this one is %(status)s)":
        "予約日時を変更できるのは予約済みの一斉配信だけです（この配信のステータス: %(status)s）",
    "only a broadcast that sent nothing (a draft, or cancelled before it started) can be deleted":
        "削除できるのは、まだ何も送信していない一斉配信（下書き、または開始前にキャンセルしたもの）だけです",
    "the broadcast has started: it can no longer be rescheduled": "配信が始まっているため、予約日時は変更できません",
    # ("Duplicate", "%(name)s (copy)", "Delete “%(name)s”?" and the enrolment button and title: translations/archive.py
    # and contact_list.py, shared with the other objects)
    # enrolment into a sequence (campaigns/views/sequences.py, the enrol card of templates/ui/sequences/show.html)
    "When the sequence is activated (it is not active now).": "ステップメールを有効にした時点（現在は無効です）",
    "You see the number of contacts and a sample before anyone is enrolled.":
        "登録前に、対象の件数と対象の例を確認できます。",
}
