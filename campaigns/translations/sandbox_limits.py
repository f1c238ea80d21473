"""Japanese for the template sandbox's limits (campaigns/delivery/sandbox.py) and for the reasons a single
send fails while its mail is built (campaigns/delivery/sending.py): shown in the editor's preview, on save,
and beside a failed send on the contact's page."""

JA = {
    # ---------------------------------------------------------------- sizes and text
    "the result would be longer than %(n)s characters": "結果が %(n)s 文字を超えます",
    "the mail would be longer than %(n)s characters": "メールが %(n)s 文字を超えます",
    "numbers longer than %(n)s digits are not allowed": "%(n)s 桁を超える数は使えません",
    "exponents above %(n)s are not allowed": "%(n)s を超える指数は使えません",
    "range() is limited to %(n)s numbers": "range() で作れる数は %(n)s 個までです",
    "lipsum() is limited to 20 paragraphs of at most 200 words": "lipsum() は200語以内の段落20個までです",
    "widths given by * are not allowed in text formatting": "書式の幅を * で指定することはできません",
    "sum can only add numbers": "sum で合計できるのは数だけです",
    "urlize: target and rel are limited to 200 characters": "urlize: target と rel は200文字以内にしてください",
    'a list cannot be shown as text: use | join(", ")':
        'リストはそのままでは表示できません。| join(", ") で文字列にしてください',
    "a dictionary cannot be shown as text: show one of its values (e.g. contact.attributes.plan)":
        "辞書はそのままでは表示できません。値を一つずつ表示してください（例: contact.attributes.plan）",
    "a function or internal object cannot be shown as text": "関数や内部のオブジェクトは表示できません",
    # ---------------------------------------------------------------- work
    "takes too long to render (more than %(n)s steps: loop rounds, calls and text)":
        "メールの作成に時間がかかりすぎます（ループ・呼び出し・文字の処理が %(n)s ステップを超えました）",
    "takes too long to render (more than %(s)s s of processing time)":
        "メールの作成に時間がかかりすぎます（処理時間が %(s)s 秒を超えました）",
    "%(part)s: %(message)s with sample data; look for nested loops":
        "%(part)s: サンプルデータで%(message)s。入れ子のループを見直してください",
    "macros or loops call themselves too deeply": "マクロやループの呼び出しが深すぎます",
    # sandbox errors carry no line number: "<part>: not allowed in templates (...)", one key per part (a key
    # "%(part)s: ..." would also take "HTML, line 3: ..." away from the key that translates the line)
    "HTML: not allowed in templates (%(message)s)": "HTML本文: テンプレートでは使えません（%(message)s）",
    "subject: not allowed in templates (%(message)s)": "件名: テンプレートでは使えません（%(message)s）",
    "preheader: not allowed in templates (%(message)s)": "プリヘッダー: テンプレートでは使えません（%(message)s）",
    "text: not allowed in templates (%(message)s)": "テキスト本文: テンプレートでは使えません（%(message)s）",
    "sender name: not allowed in templates (%(message)s)": "差出人名: テンプレートでは使えません（%(message)s）",
    "while rendering": "作成中",
    "while rendering: %(message)s": "作成中: %(message)s",
    # ---------------------------------------------------------------- a send that fails alone
    "template error: %(error)s": "テンプレートのエラー: %(error)s",
    "the contact's %(field)s contains a character that cannot be sent (U+%(code)s): correct it on the "
    "contact's page":
        "連絡先の「%(field)s」に送信できない文字（U+%(code)s）が含まれています。連絡先のページで修正してください",
    "first name": "名",
    "last name": "姓",
    "job title": "役職",
    "attribute %(key)s": "属性 %(key)s",
    "the mail contains a character that cannot be sent": "メールに送信できない文字が含まれています",
    "the mail could not be built: %(error)s": "メールを組み立てられませんでした: %(error)s",
}
