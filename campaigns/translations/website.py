"""Japanese of Settings -> Website tracking (campaigns/views/website.py, templates/ui/website/): Webサイト,
訪問, 訪問者 and 訪問元の企業 as in translations/visits.py; タグ for the pasted script; 同意 for consent."""

JA = {
    "Website tracking": "Webサイトのトラッキング",
    "Record page views on your own websites, and see which leads read which pages. Visitors stay anonymous until "
    "they arrive through a link in your mail or submit a Nurture form.":
        "自社Webサイトのページ閲覧を記録し、どのリードがどのページを見たかを把握できます。訪問者は、メールのリンクから"
        "訪問するか Nurture のフォームを送信するまで匿名のままです。",
    "Nothing is collected yet. Next: enter the domains of your sites below, then paste the tag into their pages.":
        "まだ何も収集していません。次の手順：下にサイトのドメインを入力し、タグをサイトの各ページに貼り付けてください。",
    "Last page view received:": "最後にページ閲覧を受信した日時：",
    "Page views by people in the last 7 days: %(count)s": "過去7日間の人によるページ閲覧：%(count)s件",
    "By bots and prefetchers (not counted): %(count)s": "ボットや先読みによるもの（集計対象外）：%(count)s件",
    "No page views yet. Next: paste the tag into your pages, then open one of them in your browser.":
        "まだページ閲覧がありません。次の手順：タグをページに貼り付け、そのページをブラウザで開いてみてください。",
    "Company names of visitors:": "訪問元の企業名：",
    "On (the IP-to-organisation database set by the operator)": "オン（運用管理者が設定したIPアドレス→企業データベースを使用）",
    "Off: the operator can set an IP-to-organisation database (IP_ORG_DATABASE)":
        "オフ：運用管理者がIPアドレス→企業データベース（IP_ORG_DATABASE）を設定すると表示されます",
    "1. Sites and privacy": "1. 対象サイトとプライバシー",
    "Allowed site domains": "計測を許可するサイトのドメイン",
    "One per line. A leading dot (.example.com) also allows every subdomain. Page views from other sites are "
    "refused, and mail links get the visitor identifier only into these sites.":
        "1行に1つ入力します。先頭にドット（.example.com）を付けるとすべてのサブドメインも対象になります。ほかのサイトからの"
        "ページ閲覧は受け付けず、訪問者の識別子はこれらのサイトへのメールリンクにだけ付けます。",
    "Wait for consent: collect nothing until the site calls nurture.consent(true)":
        "同意を待つ：サイトが nurture.consent(true) を呼ぶまで何も収集しない",
    "For sites with a consent banner: until your banner calls nurture.consent(true), the snippet sets no "
    "identifier and sends nothing. nurture.consent(false) removes its identifier again.":
        "同意バナーのあるサイト向けです。バナーが nurture.consent(true) を呼ぶまで、スニペットは識別子を保存せず、"
        "何も送信しません。nurture.consent(false) で識別子を削除します。",
    "Honour Global Privacy Control (browsers that send it are not tracked)":
        "グローバル・プライバシー・コントロール（GPC）を尊重する（GPCを送るブラウザは計測しない）",
    "Look-back for anonymous visits (days)": "匿名の訪問をさかのぼる期間（日）",
    "When a visitor becomes known, their anonymous visits from this many days before are added to the lead’s history.":
        "訪問者が誰か分かった時点から、この日数までさかのぼって匿名の訪問をリードの履歴に加えます。",
    "2. Paste this tag into every page": "2. このタグをすべてのページに貼り付ける",
    "Put it just before </head> (or through your tag manager)": "</head> の直前に貼り付けてください（タグマネージャー経由でも可）",
    "The first line lets your consent banner call nurture.consent(true) even before the snippet has loaded.":
        "1行目があるので、スニペットの読み込み前でも同意バナーから nurture.consent(true) を呼べます。",
    "Nurture forms on the page (embedded HTML or iframe) pass the visitor automatically; scripts that post a form "
    "with fetch() can add nurture.visitorId() as the field _nurture_vid.":
        "ページ上の Nurture フォーム（埋め込みHTML・iframe）は訪問者を自動で引き継ぎます。fetch() でフォームを送信する"
        "スクリプトでは、nurture.visitorId() の値を項目 _nurture_vid として追加してください。",
    "Single-page apps: call nurture.page() after each change of page.":
        "シングルページアプリケーションでは、画面が切り替わるたびに nurture.page() を呼んでください。",
    "If Nurture cannot be reached, your pages work as before: the snippet loads without blocking and never shows "
    "an error.":
        "Nurture に接続できなくても、ページはこれまでどおり動きます。スニペットは表示を妨げずに読み込まれ、エラーを表示しません。",
    "3. Tell your visitors": "3. 訪問者への公表",
    "Japan’s Telecommunications Business Act (external transmission rules, since June 2023) asks sites to tell "
    "visitors what their browser sends, to whom and why. Add this text to your privacy notice or a page it links "
    "to, and check it with your legal adviser.":
        "電気通信事業法の外部送信規律（2023年6月施行）では、利用者のブラウザから何の情報を、誰に、何のために送信するかを"
        "公表することが求められます。この文章をプライバシーポリシーまたはそこからリンクするページに掲載し、"
        "法務担当者にご確認ください。",
    "Privacy": "プライバシー",
    "Japanese": "日本語",
    "English": "英語",
    "These are not site domains: %(entries)s": "サイトのドメインではありません：%(entries)s",
}
