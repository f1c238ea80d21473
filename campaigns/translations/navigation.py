"""Japanese for the grouped navigation, the global search, the error pages, the empty states and the
public pages' branding (templates/ui/base.html, templates/ui/search.html, wsgi.py's error pages)."""

JA = {
    # navigation
    "Skip to content": "本文へ移動",
    "Menu": "メニュー",
    "Main": "メイン",
    # the groups of the top navigation (pgettext "nav": "Audience" alone is a broadcast's 配信対象)
    "nav|Audience": "リード管理",
    "nav|Campaigns": "キャンペーン",
    "nav|Insights": "分析",
    "Imports": "インポート",
    "Mail templates": "メールテンプレート",
    "Mails caught by the development mail server": "開発用メールサーバーが受け取ったメール",
    # search
    "Search for": "検索する言葉",
    "Name, company, email, template, campaign…": "氏名、会社名、メールアドレス、テンプレート、キャンペーン…",
    "Type a name, a company, an email address or part of one to find contacts, mail templates, campaigns, segments, lists and forms. Full-width and half-width letters, hiragana and katakana, and spaces do not matter.":
        "氏名・会社名・メールアドレス（一部でも可）を入力すると、コンタクト、メールテンプレート、キャンペーン、セグメント、リスト、フォームを探せます。全角・半角、ひらがな・カタカナ、スペースの有無は区別しません。",
    "Nothing found for “%(q)s”.": "「%(q)s」に一致するものは見つかりませんでした。",
    "Try fewer or shorter words, or part of an email address.": "言葉を減らすか短くするか、メールアドレスの一部で検索してください。",
    "Show all %(what)s": "%(what)sをすべて表示",
    # A/B tests started from their tab
    "An A/B test compares versions of one mail: a broadcast that has not started yet, or a step of a sequence. Choose the mail to test.":
        "A/Bテストでは1通のメールの複数のバージョンを比べます。まだ開始していない一斉配信か、ステップメールのステップを選んでください。",
    "Sequence steps": "ステップメールのステップ",
    "No broadcast can be tested: only a draft or scheduled broadcast without a running test can.":
        "テストできる一斉配信がありません。テストできるのは、実行中のテストがない下書きまたは予約済みの一斉配信です。",
    "No sequence has a step yet.": "ステップのあるステップメールはまだありません。",
    "Send two or more versions of a mail (subject, sender name, content or send time) to part of the audience, and the better one goes to the rest.":
        "メールの複数のバージョン（件名・差出人名・本文・送信時刻）を配信対象の一部に送り、成果のよかった方を残りの全員に送ります。",
    # error pages (campaigns/views/errors.py)
    "Something in the request could not be used": "リクエストの内容を処理できませんでした",
    "Go back, check what you entered and try again.": "前のページに戻り、入力内容を確認してもう一度お試しください。",
    "Please log in": "ログインしてください",
    "Log in to see this page.": "このページを表示するにはログインしてください。",
    "Not allowed": "アクセスできません",
    "You cannot open this page with your account.": "このアカウントではこのページを開けません。",
    "Page not found": "ページが見つかりません",
    "The page may have been deleted or its address mistyped. Start again from the menu.":
        "ページが削除されたか、アドレスが間違っている可能性があります。メニューからやり直してください。",
    "This page cannot be used that way": "この操作はできません",
    "Go back and use the page's own buttons.": "前のページに戻り、ページ内のボタンから操作してください。",
    "The connection took too long": "接続がタイムアウトしました",
    "Try again; a large file may need a faster connection.": "もう一度お試しください。大きなファイルには速い回線が必要な場合があります。",
    "Someone else changed this at the same time": "同時に他の人が変更しました",
    "Reload the page to see the latest version, then try again.": "ページを再読み込みして最新の内容を確認してから、もう一度お試しください。",
    "This page is gone": "このページはもうありません",
    "Start again from the menu.": "メニューからやり直してください。",
    "The file is too large": "ファイルが大きすぎます",
    "Files up to %(size)s can be uploaded. Split a large contact file into several files and import them one after another.":
        "アップロードできるのは%(size)sまでです。大きなコンタクトファイルは複数に分け、順番にインポートしてください。",
    "The address of this page is too long": "ページのアドレスが長すぎます",
    "Go back and shorten what you searched or filtered for.": "前のページに戻り、検索や絞り込みの条件を短くしてください。",
    "This kind of file cannot be used": "この種類のファイルは使えません",
    "Upload a CSV file (or the file type the page names).": "CSVファイル（またはページで指定された種類のファイル）をアップロードしてください。",
    "Some values could not be used": "使えない値があります",
    "Go back, correct the values and try again.": "前のページに戻り、値を修正してもう一度お試しください。",
    "Too many attempts": "試行回数が多すぎます",
    "Wait a minute, then try again.": "1分ほど待ってから、もう一度お試しください。",
    "Something went wrong": "エラーが発生しました",
    "The error has been logged. Try again in a moment.": "エラーは記録されました。しばらくしてからもう一度お試しください。",
    "The service is not reachable": "サービスに接続できません",
    "Try again in a moment.": "しばらくしてからもう一度お試しください。",
    "The service is busy or being updated": "サービスが混み合っているか、更新中です",
    "Try again in a few minutes.": "数分後にもう一度お試しください。",
    # campaigns and their reports, empty states
    "Report": "レポート",
    "A template is one mail: subject, sender name and content. Sequences, journeys and broadcasts send templates, so most work starts here.":
        "テンプレートは1通のメール（件名・差出人名・本文）です。ステップメール・シナリオ・一斉配信はテンプレートを送るので、まずはここから始めましょう。",
    "A sequence sends a series of mails at set intervals to each contact who enters it, from a form, an event or by hand.":
        "ステップメールは、フォーム・イベント・手動で登録されたコンタクトに、決まった間隔で一連のメールを送ります。",
    "A broadcast sends one mail to a segment or to all active contacts, now or at a set time. You see who and when before anything is sent.":
        "一斉配信は、セグメントまたは有効なコンタクト全員に1通のメールを、今すぐまたは指定した日時に送ります。送信前に、誰にいつ送るかを確認できます。",
    "A journey sends mails, waits and branches on what each contact does: opens, clicks, forms and events.":
        "シナリオは、コンタクトごとの行動（開封・クリック・フォーム・イベント）に応じて、メール送信・待機・分岐を行います。",
    "Put the form on your website or share its link; each submission becomes a contact.":
        "フォームをWebサイトに埋め込むかリンクを共有すると、送信ごとにコンタクトが登録されます。",
    "No segments yet. A segment picks contacts by rules (job title, score, lists, activity) and keeps itself up to date: use it as the audience of a broadcast or the entry of a journey. Start with New segment.":
        "セグメントはまだありません。セグメントは条件（役職・スコア・リスト・行動）でコンタクトを選び、自動で最新の状態に保たれます。一斉配信の配信対象やシナリオの開始条件に使えます。「新規セグメント」から始めましょう。",
    "No lists yet. A list holds the contacts you pick yourself (the visitors of an event, say): create one below, then add contacts from the contact list.":
        "リストはまだありません。リストには自分で選んだコンタクト（イベントの来場者など）を入れます。下で作成してから、コンタクト一覧からコンタクトを追加してください。",
    "A broadcast's report appears here once it is sent: deliveries, opens, clicks and unsubscribes.":
        "一斉配信を送信すると、ここにレポート（配信数・開封・クリック・配信停止）が表示されます。",
    "A sequence's report appears here once it has a mail: each step's deliveries, opens and clicks.":
        "ステップメールにメールが設定されると、ここにレポート（ステップごとの配信数・開封・クリック）が表示されます。",
    # names recipients see (campaigns/views/public_names.py) and the public pages
    "nav|Settings": "設定",
    "Account and sender": "アカウントと差出人",
    "Names recipients see": "受信者に表示する名前",
    "The preference page linked from every mail lists the series a contact is in, so they can stop one and keep the rest. It shows these names, never the internal ones. A series without one is shown as “Emails from %(company)s”.":
        "すべてのメールからリンクされる配信設定ページには、そのコンタクトが登録されているシリーズが一覧され、受信者は一部だけ停止できます。そこにはここで付けた名前が表示され、社内向けの名前は表示されません。名前のないシリーズは「%(company)sからのメール」と表示されます。",
    "your company": "貴社",
    "e.g. Tips after your download": "例：資料ダウンロード後のお役立ち情報",
    "No journeys or sequences yet.": "シナリオもステップメールもまだありません。",
    "Once you build one, give it here the name its recipients will see.": "作成したら、ここで受信者に表示する名前を付けてください。",
    "public name": "受信者に表示する名前",
    "Emails from %(company)s": "%(company)sからのメール",
    "An email series": "メールのシリーズ",
}
