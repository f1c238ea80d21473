"""Japanese for the English messages that services raise and the views show (ContactError, ImportFileError,
sequence and broadcast problems, A/B setup errors, template errors, the A/B statistician's sentence), and
for WTForms' own validation messages.

Keys with %(name)s placeholders are matched against the whole message (campaigns.i18n): the values are
taken from the English message and put into the Japanese one, each translated too when it is a key."""

JA = {
    # ---------------------------------------------------------------- WTForms validators
    "This field is required.": "この項目は必須です。",
    "Invalid email address.": "メールアドレスの形式が正しくありません。",
    "Not a valid integer value.": "整数を入力してください。",
    "Not a valid decimal value.": "数値を入力してください。",
    "Not a valid float value.": "数値を入力してください。",
    "Number must be between %(min)s and %(max)s.": "%(min)s〜%(max)sの数値を入力してください。",
    "Number must be at least %(min)s.": "%(min)s以上の数値を入力してください。",
    "Number must be at most %(max)s.": "%(max)s以下の数値を入力してください。",
    "Field must be between %(min)d and %(max)d characters long.": "%(min)d〜%(max)d文字で入力してください。",
    "Field cannot be longer than %(max)s characters.": "%(max)s文字以内で入力してください。",
    "Field must be at least %(min)s characters long.": "%(min)s文字以上で入力してください。",
    "Invalid URL.": "URLの形式が正しくありません。",
    "Not a valid choice.": "選択肢から選んでください。",
    "Not a valid choice": "選択肢から選んでください。",
    "Reply-To": "返信先（Reply-To）",
    # ---------------------------------------------------------------- contacts and CSV import
    "unknown time zone %(zone)s": "タイムゾーン %(zone)s は使えません（例: Asia/Tokyo）",
    "unknown stage %(stage)s (use one of %(stages)s)": "ステージ %(stage)s は使えません（%(stages)s のいずれか）",
    "unrecognised date %(date)s": "日付 %(date)s を読み取れません",
    "%(field)s is too long (%(n)s characters, at most %(limit)s)": "%(field)sが長すぎます（%(n)s 文字。上限 %(limit)s 文字）",
    "attributes must be an object": "カスタム属性はJSONオブジェクトで入力してください",
    "%(key)s cannot be set through contact data": "%(key)sはコンタクトのデータとして設定できません",
    "invalid email address %(email)s": "メールアドレス %(email)s の形式が正しくありません",
    "invalid attribute name %(name)s": "カスタム属性の名前 %(name)s は使えません",
    "an address and a reason are required": "メールアドレスと理由を入力してください",
    "this address is not on the suppression list": "このアドレスは配信停止リストにありません",
    "only manual suppressions can be removed (this one is %(reason)s)":
        "解除できるのは手動で追加した配信停止のみです（このアドレスの理由: %(reason)s）",
    "email is required": "メールアドレスは必須です",
    "another contact already uses %(email)s": "%(email)s は別のコンタクトが使用しています",
    "The file is neither UTF-8 nor Shift_JIS (CP932) text. Save it as CSV UTF-8.":
        "ファイルがUTF-8でもShift_JIS（CP932）でもありません。「CSV UTF-8」形式で保存し直してください。",
    "mode must be 'update' or 'skip'": "登録済みアドレスの扱いは「更新」か「スキップ」を選んでください",
    "unsupported encoding %(encoding)s": "文字コード %(encoding)s には対応していません",
    "cannot import a column into %(target)s": "%(target)s には列を取り込めません",
    "the source is too long (at most 100 characters)": "取得元が長すぎます（100文字以内）",
    "The file is not valid %(encoding)s text.": "ファイルが正しい %(encoding)s のテキストではありません。",
    "The file is not valid %(encoding)s text near line %(line)s.":
        "%(line)s 行目付近が正しい %(encoding)s のテキストではありません。",
    "The file is empty or has no header row.": "ファイルが空か、見出し行がありません。",
    "Line %(line)s: the CSV cannot be read (%(error)s).": "%(line)s 行目: CSVを読み取れません（%(error)s）。",
    "column %(n)s does not exist in this file": "このファイルに %(n)s 列目はありません",
    "only one column can be the email address": "メールアドレスにできる列は1つだけです",
    "Choose the column that holds the email address.": "メールアドレスが入っている列を選んでください。",
    "%(n)s fields but the header has %(width)s (an unquoted comma?)":
        "項目数が %(n)s 個ですが見出しは %(width)s 個です（引用符で囲まれていないカンマがありませんか？）",
    "email is missing": "メールアドレスが空です",
    "the uploaded file is missing": "アップロードしたファイルが見つかりません",
    "The upload has expired. Please upload the file again.": "アップロードの有効期限が切れました。もう一度ファイルをアップロードしてください。",
    # contact field names inside messages
    "first_name": "名",
    "attributes": "カスタム属性",
    "phone": "電話番号",
    # ---------------------------------------------------------------- sequences and broadcasts
    "%(what)s must be a non-empty text": "%(what)sを入力してください",
    "%(what)s must be at most %(n)s characters": "%(what)sは %(n)s 文字以内で入力してください",
    "%(what)s must be a list of event names": "%(what)sはイベント名のリストで指定してください",
    "exit_stages must be a list of stages": "終了ステージはステージのリストで指定してください",
    "unknown stage %(stage)s in exit_stages (valid: %(valid)s)": "終了ステージ %(stage)s は使えません（%(valid)s のいずれか）",
    "%(what)s must be a whole number": "%(what)sは整数で入力してください",
    "%(what)s must be between %(low)s and %(high)s": "%(what)sは %(low)s〜%(high)s の範囲で入力してください",
    "%(label)s must be an object": "%(label)s の形式が正しくありません",
    "%(label)s: unknown field(s) %(fields)s": "%(label)s: 不明な項目 %(fields)s",
    "%(label)s: template %(template)s does not exist": "%(label)s: テンプレート %(template)s は存在しません",
    "%(label)s: window_days must be ISO weekday digits 1-7 (Monday=1), e.g. '12345'":
        "%(label)s: 送信曜日は1〜7の数字で指定してください（月曜=1。例: 12345）",
    "%(label)s: the send window starts and ends at the same hour": "%(label)s: 送信時間帯の開始と終了が同じ時刻です",
    "unknown sequence field(s): %(fields)s": "ステップメールの不明な項目: %(fields)s",
    "allow_reentry must be true or false": "再登録の可否は true か false で指定してください",
    "%(key)s: segment %(segment)s does not exist": "%(key)s: セグメント %(segment)s は存在しません",
    "a new sequence's steps cannot carry ids": "新しいステップメールのステップにIDは指定できません",
    "step %(position)s: step id %(step)s is not a step of this sequence":
        "ステップ %(position)s: ステップID %(step)s はこのステップメールのステップではありません",
    "unknown sequence status %(status)s": "ステップメールのステータス %(status)s は使えません",
    "a sequence needs at least one step before it can be activated": "稼働させるには少なくとも1つのステップが必要です",
    "fill in Settings first: %(problem)s": "先に「設定」を入力してください: %(problem)s",
    "step %(position)s: its template has no saved version yet": "ステップ %(position)s: テンプレートがまだ保存されていません",
    "the sender's name (company name) is not set": "差出人名（会社名）が未設定です",
    "the sender's postal address is not set": "差出人の住所が未設定です",
    "the sender's contact (email, phone or URL for enquiries) is not set":
        "差出人の連絡先（問い合わせ用のメールアドレス・電話番号・URL）が未設定です",
    "event properties must be an object": "イベントのプロパティはJSONオブジェクトで指定してください",
    "occurred_at must carry a time zone": "発生日時にはタイムゾーンを含めてください",
    "template %(template)s does not exist": "テンプレート %(template)s は存在しません",
    "segment %(segment)s does not exist": "セグメント %(segment)s は存在しません",
    "scheduled_at must carry a time zone": "配信日時にはタイムゾーンを含めてください",
    "a %(status)s broadcast cannot be scheduled": "ステータスが %(status)s の一斉配信は予約できません",
    "the broadcast's template has no saved version yet": "一斉配信のテンプレートがまだ保存されていません",
    "a %(status)s broadcast cannot be cancelled": "ステータスが %(status)s の一斉配信は取り消せません",
    "description": "説明",
    "name": "名前",
    "trigger_events": "開始イベント",
    "exit_events": "終了イベント",
    # statuses inside messages
    "draft": "下書き",
    "scheduled": "予約済み",
    "active": "稼働中",
    "paused": "一時停止",
    "decided": "決定済み",
    # ---------------------------------------------------------------- A/B test setup
    "%(what)s: a number is required": "%(what)s: 数値を入力してください",
    "%(what)s: must be between %(low)s and %(high)s": "%(what)s: %(low)s〜%(high)s の範囲で入力してください",
    "send time: use the form YYYY-MM-DDTHH:MM": "送信日時: YYYY-MM-DDTHH:MM の形式で入力してください",
    "send time: %(value)s is not a valid date and time": "送信日時: %(value)s は正しい日時ではありません",
    "a test belongs to exactly one broadcast or one sequence step":
        "テストの対象は1つの一斉配信か、ステップメールの1つのステップです",
    "kind: one of %(kinds)s": "テストの種類: %(kinds)s のいずれかを選んでください",
    "metric: one of %(metrics)s": "指標: %(metrics)s のいずれかを選んでください",
    "fallback or decision mode is not one of the offered choices": "有意差がない場合の扱いまたは決定方法が選択肢にありません",
    "goal event: required for the goal metric": "ゴールイベント: 指標が「ゴール」の場合は必須です",
    "goal event: at most 100 characters": "ゴールイベント: 100文字以内で入力してください",
    "a test has 2 to %(n)s variants": "パターンは2〜%(n)s個にしてください",
    "broadcast %(id)s does not exist": "一斉配信 %(id)s は存在しません",
    "a %(status)s broadcast cannot get a test any more": "ステータスが %(status)s の一斉配信にはテストを追加できません",
    "step %(id)s does not exist": "ステップ %(id)s は存在しません",
    "send-time tests are for broadcasts; a step's timing is its delay and send window":
        "送信時刻のテストは一斉配信のみです。ステップの送信タイミングは待機時間と送信時間帯で決まります",
    "there is already a test running on it: cancel or finish that one first":
        "すでに実行中のテストがあります。先にそのテストを中止するか終了してください",
    "its template has no saved version yet": "テンプレートがまだ保存されていません",
    "variant %(n)s: must be an object": "パターン %(n)s: 形式が正しくありません",
    "%(where)s: %(field)s is required": "%(where)s: %(field)sを入力してください",
    "%(where)s: %(field)s is too long": "%(where)s: %(field)sが長すぎます",
    "%(where)s: choose a template": "%(where)s: テンプレートを選んでください",
    "%(where)s: template %(id)s does not exist or has no saved version":
        "%(where)s: テンプレート %(id)s が存在しないか、まだ保存されていません",
    "%(where)s: the send time %(when)s has passed": "%(where)s: 送信日時 %(when)s は過ぎています",
    "%(where)s: the same as an earlier variant; variants must differ":
        "%(where)s: 前のパターンと同じです。パターンごとに内容を変えてください",
    "send times: keep the variants within 14 days of each other": "送信日時: パターン間の差は14日以内にしてください",
    "a %(status)s test cannot be cancelled": "ステータスが %(status)s のテストは中止できません",
    "variant %(key)s: %(error)s": "パターン %(key)s: %(error)s",
    "variant %(key)s": "パターン %(key)s",
    "step %(n)s": "ステップ %(n)s",
    "a %(status)s test cannot be decided": "ステータスが %(status)s のテストは勝者を決定できません",
    "variant %(n)s does not exist": "パターン %(n)s は存在しません",
    "the test decides itself when the last window closes (automatic mode)":
        "自動モードでは、最後の計測期間が終わった時点でテストが自動的に勝者を決定します",
    "the test portion is still being sent: wait until it is delivered":
        "テスト配信分をまだ送信中です。送信が終わるまでお待ちください",
    # names of the numbers in A/B messages
    "goal days": "ゴールの計測日数",
    "test portion": "テスト対象の割合",
    "test window": "計測期間",
    "test days": "テスト期間（日）",
    "baseline rate": "現在の率（ベースライン）",
    "minimum detectable lift": "検出したい最小の改善率",
    "alpha": "有意水準",
    "power": "検出力",
    "subject": "件名",
    "from name": "差出人名",
    "preheader": "プリヘッダー",
    # ---------------------------------------------------------------- the A/B statistician's sentence
    "Test running: provisional results. The decision is made at %(when)s, when every variant's window has "
    "closed; looking earlier does not change it. Currently ahead: %(name)s (%(rate)s).":
        "テスト実行中のため、結果は暫定値です。判定はすべてのパターンの計測期間が終わる %(when)s に行われ、"
        "途中で結果を見ても判定は変わりません。現在のトップ: %(name)s（%(rate)s）。",
    "The deadline has passed but nothing was sent for %(names)s, so the variants cannot be compared.":
        "期限を過ぎましたが、%(names)s は1通も送信されなかったため、パターンを比較できません。",
    "%(w)s wins: %(wr)s against %(cr)s for the control %(c)s (%(lift)s, %(p)s after correcting for %(k)s "
    "comparisons). A difference this large would rarely happen by chance.":
        "%(w)s の勝ちです: %(wr)s（基準パターン %(c)s は %(cr)s。%(lift)s、%(k)s 回の比較で補正後 %(p)s）。"
        "これほど大きな差が偶然に生じることはまれです。",
    "%(w)s wins: %(wr)s against %(cr)s for the control %(c)s (%(lift)s, %(p)s). A difference this large would "
    "rarely happen by chance.":
        "%(w)s の勝ちです: %(wr)s（基準パターン %(c)s は %(cr)s。%(lift)s、%(p)s）。"
        "これほど大きな差が偶然に生じることはまれです。",
    "%(w)s wins: %(wr)s against %(cr)s for the control %(c)s (%(lift)s, %(p)s after correcting for %(k)s "
    "comparisons). A difference this large would rarely happen by chance. %(others)s also beat the control; "
    "%(w)s had the highest rate.":
        "%(w)s の勝ちです: %(wr)s（基準パターン %(c)s は %(cr)s。%(lift)s、%(k)s 回の比較で補正後 %(p)s）。"
        "これほど大きな差が偶然に生じることはまれです。%(others)s も基準パターンを上回りましたが、最も率が高かったのは "
        "%(w)s です。",
    "No challenger beat the control: %(c)s (%(cr)s) did significantly better than every other variant, so "
    "%(c2)s is kept.":
        "基準パターンを上回ったパターンはありません。%(c)s（%(cr)s）が他のすべてのパターンより有意に良かったため、"
        "%(c2)s のままにします。",
    "No variant did significantly better than the control %(c)s by the deadline (the best challenger, %(b)s, "
    "had %(br)s against %(cr)s (%(lift)s, %(p)s), a difference that could well be chance). Keeping %(c2)s.":
        "期限までに基準パターン %(c)s より有意に良いパターンはありませんでした（最も良かった %(b)s は %(br)s、基準パターンは "
        "%(cr)s。%(lift)s、%(p)s。偶然の差である可能性が十分にあります）。%(c2)s のままにします。",
    "No variant did significantly better than the control %(c)s by the deadline (the best challenger, %(b)s, "
    "had %(br)s against %(cr)s (%(lift)s, %(p)s)). Keeping %(c2)s.":
        "期限までに基準パターン %(c)s より有意に良いパターンはありませんでした（最も良かった %(b)s は %(br)s、基準パターンは "
        "%(cr)s。%(lift)s、%(p)s）。%(c2)s のままにします。",
    "No variant did significantly better than the control %(c)s by the deadline (the best challenger, %(b)s, "
    "had %(br)s against %(cr)s (%(lift)s, %(p)s), a difference that could well be chance). As you chose, "
    "sending the leader %(l)s (%(lr)s), labelled not significant.":
        "期限までに基準パターン %(c)s より有意に良いパターンはありませんでした（最も良かった %(b)s は %(br)s、基準パターンは "
        "%(cr)s。%(lift)s、%(p)s。偶然の差である可能性が十分にあります）。設定どおり、トップの %(l)s（%(lr)s）を"
        "「有意差なし」として残りの対象に送信します。",
    "No variant did significantly better than the control %(c)s by the deadline (the best challenger, %(b)s, "
    "had %(br)s against %(cr)s (%(lift)s, %(p)s)). As you chose, sending the leader %(l)s (%(lr)s), labelled "
    "not significant.":
        "期限までに基準パターン %(c)s より有意に良いパターンはありませんでした（最も良かった %(b)s は %(br)s、基準パターンは "
        "%(cr)s。%(lift)s、%(p)s）。設定どおり、トップの %(l)s（%(lr)s）を「有意差なし」として残りの対象に送信します。",
    "%(n)s points": "%(n)s ポイント",
    "Below the planned %(n)s sends per variant: %(names)s. Smaller differences than planned may go undetected.":
        "パターンあたりの送信数が計画の %(n)s 通に届いていません: %(names)s。計画より小さな差は検出できない可能性があります。",
    # ---------------------------------------------------------------- mail templates (Jinja errors)
    "%(part)s, line %(line)s: %(message)s": "%(part)sの %(line)s 行目: %(message)s",
    "%(part)s: line %(line)s: control character U+%(code)s is not allowed":
        "%(part)sの %(line)s 行目: 制御文字 U+%(code)s は使えません",
    "%(part)s: too long (at most %(kb)s KB)": "%(part)sが長すぎます（%(kb)s KB以内）",
    "%(part)s, line %(line)s: {%% %(tag)s %%} is not allowed in mail templates":
        "%(part)sの %(line)s 行目: メールテンプレートでは {%% %(tag)s %%} は使えません",
    "CSS could not be inlined: %(error)s": "CSSをインライン化できませんでした: %(error)s",
    "name: required": "名前を入力してください",
    "subject: required": "件名を入力してください",
    "HTML: required": "HTML本文を入力してください",
    "HTML: could not be parsed (%(error)s)": "HTML本文を解析できませんでした（%(error)s）",
    "not allowed in templates (%(message)s)": "テンプレートでは使えません（%(message)s）",
    "html": "HTML本文",
    "text": "テキスト本文",
    "preview text": "プレビューテキスト",
    "mail": "メール",
    "compiled version": "コンパイル済みのバージョン",
    "unexpected end of template, expected %(what)s.": "テンプレートが途中で終わっています（%(what)sが必要です）。",
    "expected token %(expected)s, got %(got)s": "%(expected)s が必要な位置に %(got)s があります",
    "unexpected %(token)s": "予期しない %(token)s があります",
    "unexpected char %(char)s at %(pos)s": "%(pos)s 文字目に予期しない文字 %(char)s があります",
    "Encountered unknown tag %(tag)s.": "不明なタグ %(tag)s があります。",
    "%(name)s is undefined": "%(name)s は定義されていません",
    "Unexpected end of template. Jinja was looking for the following tags: %(tags)s. The innermost block that "
    "needs to be closed is %(block)s.":
        "テンプレートが途中で終わっています。閉じていないタグ %(tags)s があります（最も内側のブロック: %(block)s）。",
    "Expected an expression, got %(got)s": "式が必要な位置に %(got)s があります",
    "'end of print statement'": "「}}」",
    "'end of statement block'": "「%}」",
    "'end of template'": "テンプレートの終わり",
    # ---------------------------------------------------------------- users
    "password must have at least 8 characters": "パスワードは8文字以上にしてください",
}
JA.update({
    "Test cancelled: keeping the control.": "テストは中止されました。基準パターンのままにします。",
    "Chosen by %(who)s: %(variant)s.": "%(who)s が選択: %(variant)s。",
})

# Python's JSON decoder (attributes and rules typed as JSON): exc.msg is shown after our own sentence
JA.update({
    "Expecting value": "値がありません",
    "Expecting property name enclosed in double quotes": "項目名をダブルクォート（\"）で囲んでください",
    "Expecting ',' delimiter": "カンマ（,）が必要です",
    "Expecting ':' delimiter": "コロン（:）が必要です",
    "Extra data": "余分なデータがあります",
    "Unterminated string starting at": "文字列が閉じられていません",
    "Invalid control character at": "使えない制御文字があります",
    "Invalid \\escape": "不正なエスケープ文字があります",
    "Detect automatically": "自動判定",
})

# import jobs that stopped (campaigns.leads.imports.recover_stalled_imports, run_import)
JA.update({
    "The import stopped because of an internal error; it has been logged.":
        "内部エラーのためインポートが停止しました。エラーは記録されています。",
    "The import stopped %(n)s times without finishing (the worker running it ended); the rows imported so far "
    "are kept.":
        "インポートが完了しないまま %(n)s 回停止しました（処理していたワーカーが終了しました）。"
        "それまでに取り込んだ行は保存されています。",
    "The worker running this import stopped; it was restarted from the beginning.":
        "インポートを処理していたワーカーが停止したため、最初からやり直しています。",
})

# why a send was not delivered or was cancelled (the contact page's send history), why a broadcast stopped
JA.update({
    "broadcast cancelled": "一斉配信のキャンセル",
    "cancelled by a user": "ユーザーによるキャンセル",
    "unsubscribed": "配信停止",
    "bounced": "バウンス",
    "left sequence": "ステップメールから離脱",
    "enrolment ended: %(reason)s": "登録終了: %(reason)s",
    "event:%(name)s": "イベント %(name)s",
    "goal:%(name)s": "ゴール達成（%(name)s）",
    "broadcast paused: %(reason)s": "一斉配信の一時停止: %(reason)s",
    "not sent: planned more than %(hours)s hours earlier": "未送信: 予定時刻から %(hours)s 時間以上過ぎたため",
    "bounced (%(kind)s): %(detail)s": "バウンス（%(kind)s）: %(detail)s",
    "hard": "ハード",
    "soft": "ソフト",
    "rejected: %(error)s": "受信拒否: %(error)s",
    "refused: %(error)s": "送信拒否: %(error)s",
    "suppressed address": "配信停止リストのアドレス",
    "contact not active": "コンタクトが有効ではありません",
})

# werkzeug's descriptions of HTTP errors, shown on the UI's error page
JA.update({
    "The browser (or proxy) sent a request that this server could not understand.":
        "サーバーが理解できないリクエストを受け取りました。",
    "The server could not verify that you are authorized to access the URL requested. You either supplied the "
    "wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials "
    "required.":
        "このURLへのアクセス権限を確認できませんでした。認証情報（パスワードなど）が正しくないか、ブラウザーが認証情報を送信できません。",
    "You don't have the permission to access the requested resource. It is either read-protected or not "
    "readable by the server.":
        "このページへのアクセス権限がありません。",
    "The method is not allowed for the requested URL.": "このURLではその操作はできません。",
    "The data value transmitted exceeds the capacity limit.": "送信されたデータが大きすぎます。",
    "This user has exceeded an allotted request count. Try again later.":
        "リクエストの回数が上限を超えました。しばらくしてからもう一度お試しください。",
    "The requested URL is no longer available on this server and there is no forwarding address. If you "
    "followed a link from a foreign page, please contact the author of this page.":
        "このURLは現在は利用できません。",
    "A conflict happened while processing the request. The resource might have been modified while the "
    "request was being processed.":
        "処理中に競合が発生しました。処理の途中でデータが変更された可能性があります。",
    "The server does not support the media type transmitted in the request.": "送信された形式には対応していません。",
    "The request was well-formed but was unable to be followed due to semantic errors.":
        "リクエストの内容に誤りがあるため処理できませんでした。",
})

# the A/B sample-size advice (campaigns.experiments.stats.audience_advice) on the results page
JA.update({
    "The test needs %(n)s recipients per variant (%(total)s in total); the test portion gives %(m)s.":
        "1パターンあたり%(n)s件（合計%(total)s件）の配信が必要です。テスト対象は%(m)s件です。",
    "Audience too small: the test needs %(n)s recipients per variant (%(total)s in total, %(share)s of the "
    "audience) but the test portion gives %(m)s. It can only detect lifts of %(lift)s or more. Consider fewer "
    "variants, a larger test portion, or a metric with a higher baseline rate.":
        "配信対象が少なすぎます：1パターンあたり%(n)s件（合計%(total)s件、配信対象の%(share)s）必要ですが、"
        "テスト対象は%(m)s件です。検出できるのは%(lift)s以上の改善だけです。パターンを減らす、テスト対象の割合を"
        "増やす、または率の高い指標を選ぶことを検討してください。",
    "Audience too small: the test needs %(n)s recipients per variant (%(total)s in total, %(share)s of the "
    "audience) but the test portion gives %(m)s. Consider fewer variants, a larger test portion, or a metric "
    "with a higher baseline rate.":
        "配信対象が少なすぎます：1パターンあたり%(n)s件（合計%(total)s件、配信対象の%(share)s）必要ですが、"
        "テスト対象は%(m)s件です。パターンを減らす、テスト対象の割合を増やす、または率の高い指標を選ぶことを"
        "検討してください。",
})
