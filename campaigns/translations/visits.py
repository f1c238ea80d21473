"""Japanese of website visits where they matter: segment conditions (訪問したページ, 流入元, 訪問元の企業), the
scoring rule for page visits, the contact timeline, the recent-visitors page, the visit reports and the
journeys' "visited" trigger, wait and branch. ページ for a page, 訪問 for a visit, 回以上 for "at least n times"."""

JA = {
    # segment conditions: the sentence, the editor, errors
    "Website visit": "Webサイト訪問",
    "Came from (utm_source)": "流入元（utm_source）",
    "Visitor's company": "訪問元の企業",
    "visited the website": "Webサイトを訪問した",
    "visited the website at least %(count)s times": "Webサイトを%(count)s回以上訪問した",
    "visited a page matching %(pattern)s": "%(pattern)sに一致するページを訪問した",
    "visited pages matching %(pattern)s at least %(count)s times": "%(pattern)sに一致するページを%(count)s回以上訪問した",
    "came from utm_source %(source)s": "utm_sourceが%(source)sのリンクから訪問した",
    "visited from the company %(name)s": "訪問元の企業が%(name)s",
    "visited from a company whose name contains %(name)s": "訪問元の企業名が%(name)sを含む",
    "Page address (* matches anything)": "ページのアドレス（* は任意の文字列）",
    "/pricing* or https://example.com/case-studies/*": "/pricing* または https://example.com/case-studies/*",
    "at least %(n)s times": "%(n)s回以上",
    "utm_source value": "utm_sourceの値",
    "Company name": "企業名",
    "enter a page pattern such as /pricing* (at most 500 characters, no spaces)":
        "/pricing* のようにページを入力してください（500文字以内、空白なし）",
    "%(where)s: enter a page pattern such as /pricing* (at most 500 characters, no spaces)":
        "%(where)s: /pricing* のようにページを入力してください（500文字以内、空白なし）",
    "%(where)s: the number of visits must be a whole number from 1 to %(max)s":
        "%(where)s: 訪問回数は1〜%(max)sの整数で入力してください",
    "%(where)s: unknown key(s) %(keys)s in a website condition": "%(where)s: Webサイトの条件に不明なキー %(keys)s があります",
    "%(where)s: enter a utm_source value (at most 200 characters)": "%(where)s: utm_sourceの値を入力してください（200文字以内）",
    "%(where)s: enter a company name (at most 200 characters)": "%(where)s: 企業名を入力してください（200文字以内）",
    "%(where)s: a company condition is 'is' or 'contains'": "%(where)s: 企業の条件は「一致」か「含む」です",
    # scoring
    "Website page visited": "Webサイトのページ訪問",
    "a page visit rule needs the page: a path such as /pricing* or a full address "
    "(at most 500 characters, no spaces; * matches anything)":
        "ページ訪問のルールにはページが必要です: /pricing* のようなパス、または完全なアドレス"
        "（500文字以内、空白なし。* は任意の文字列）",
    "Page (a path such as /pricing* or a full address; * matches anything)":
        "ページ（/pricing* のようなパス、または完全なアドレス。* は任意の文字列）",
    # the contact timeline and the score ledger
    "visited 「%(page)s」": "「%(page)s」を訪問",
    "page %(address)s": "ページ %(address)s",
    "visited %(page)s": "%(page)s を訪問",
    # the recent-visitors page
    "Recent visitors": "最近の訪問者",
    "Website report": "Webサイトレポート",
    "People on your website, newest first: known leads by name, anonymous visitors by the company of their network "
    "when it can be told. Bots are left out.":
        "Webサイトを訪れた人を新しい順に表示します。既知のリードは名前で、匿名の訪問者は判別できればネットワークの企業名で表示します。"
        "ボットは除外しています。",
    "Page (* matches anything)": "ページ（* は任意の文字列）",
    "Visitors": "訪問者",
    "Known and anonymous": "既知と匿名",
    "Known leads only": "既知のリードのみ",
    "Anonymous only": "匿名のみ",
    "Period": "期間",
    "Show": "表示",
    "Anonymous visitor": "匿名の訪問者",
    "Known lead": "既知のリード",
    "Anonymous": "匿名",
    "Network: %(company)s": "ネットワーク: %(company)s",
    "Company not known": "企業は不明",
    "Latest pages": "最近のページ",
    "last visit %(when)s": "最終訪問 %(when)s",
    "No visits in this period.": "この期間の訪問はありません。",
    "No visits to pages matching %(pattern)s in this period.": "この期間に %(pattern)s に一致するページへの訪問はありません。",
    "Visits appear once the tracking snippet is on your site (Settings → Website tracking).":
        "トラッキングコードをサイトに設置すると訪問が表示されます（設定 → Webサイトトラッキング）。",
    # the website report
    "Top pages among known leads, by stage": "既知のリードがよく見るページ（ステージ別）",
    "Page": "ページ",
    "Visits": "訪問数",
    "No visits by leads in this stage.": "このステージのリードの訪問はありません。",
    "Visits after a mail's click": "メールのクリック後の訪問",
    "Within": "期間",
    "%(visitors)s of %(clickers)s people who clicked visited the website within the period.":
        "クリックした%(clickers)s人のうち%(visitors)s人が、期間内にWebサイトを訪問しました。",
    "Once a broadcast is sent, this shows which pages the people who clicked it went on to visit.":
        "一斉配信を送信すると、クリックした人がその後どのページを訪問したかがここに表示されます。",
    # journeys
    "%(what)s.page: enter a page pattern such as /pricing* (at most 500 characters, no spaces)":
        "%(what)s.page: /pricing* のようにページを入力してください（500文字以内、空白なし）",
}
