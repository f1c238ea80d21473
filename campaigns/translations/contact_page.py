"""Japanese for the contact page (campaigns/views/contact_page.py, templates/ui/contacts/show.html), its
timeline (campaigns/insights/timeline.py) and the erase and export of a contact."""

JA = {
    # page
    "Erased contact #%(id)s": "削除済みのコンタクト #%(id)s",
    "Export (JSON)": "エクスポート（JSON）",
    "Export (CSV)": "エクスポート（CSV）",
    "This contact's personal data was erased. Its mails, opens, clicks and events are still counted in reports, and the address stays on the suppression list.":
        "このコンタクトの個人データは削除済みです。メール・開封・クリック・イベントはレポートの集計に残り、アドレスは配信停止リストに残ります。",
    "Sequences and journeys": "ステップメールとジャーニー",
    "step %(position)s": "ステップ %(position)s",
    "Next": "次",
    "Not in any sequence or journey.": "ステップメールにもジャーニーにも登録されていません。",
    "Timeline": "タイムライン",
    "times in %(zone)s": "時刻は %(zone)s",
    "Newest": "最新へ",
    "Show older": "さらに古い履歴を表示",
    "Nothing has happened yet: no mails, opens, clicks, forms or events.":
        "まだ何もありません（メール・開封・クリック・フォーム・イベントなし）。",
    # timeline kinds and marks
    "Mail": "メール",
    "timeline|Open": "開封",
    "Click": "クリック",
    "Form": "フォーム",
    "Event": "イベント",
    "Stage": "ステージ",
    "Score": "スコア",
    "Person": "人",
    "Machine: image proxy": "機械：画像プロキシ",
    "Machine: link scanner": "機械：リンクスキャナー",
    # timeline words (campaigns.insights.timeline)
    "mail sent: 「%(mail)s」": "メール送信：「%(mail)s」",
    "mail 「%(mail)s」": "メール「%(mail)s」",
    "sequence %(sequence)s, step %(step)s": "ステップメール %(sequence)s・ステップ %(step)s",
    "broadcast %(broadcast)s": "一斉配信 %(broadcast)s",
    "opened 「%(mail)s」": "「%(mail)s」を開封",
    "clicked a link in 「%(mail)s」": "「%(mail)s」のリンクをクリック",
    "%(url)s": "%(url)s",
    "「%(form)s」 form submitted": "「%(form)s」フォーム送信",
    "event %(event)s": "イベント %(event)s",
    "from %(source)s": "発生元：%(source)s",
    "stage %(old)s → %(new)s": "ステージ %(old)s → %(new)s",
    "stage %(new)s": "ステージ %(new)s",
    "score %(score)s reached %(threshold)s": "スコア %(score)s がしきい値 %(threshold)s に到達",
    "score %(score)s fell below %(threshold)s": "スコア %(score)s がしきい値 %(threshold)s を下回った",
    "hot lead: score %(score)s reached %(threshold)s": "ホットリード：スコア %(score)s がしきい値 %(threshold)s に到達",
    "scoring rule %(rule)s": "スコアリングルール %(rule)s",
    "set by sales": "営業が設定",
    "set by sales: %(detail)s": "営業が設定：%(detail)s",
    "set through the API": "APIで設定",
    "set through the API: %(detail)s": "APIで設定：%(detail)s",
    "score decayed": "スコアの減衰",
    "scores recomputed": "スコアの再計算",
    "a scoring rule was removed": "スコアリングルールの削除",
    "imported": "インポート",
    "score threshold": "スコアしきい値",
    "the address bounced": "アドレスがバウンス",
    "no activity for %(days)s days": "%(days)s日間アクティビティなし",
    "step %(step)s: 「%(mail)s」": "ステップ %(step)s：「%(mail)s」",
    "no more steps": "残りのステップなし",
    # erase
    "Erase personal data": "個人データを削除",
    "For a privacy request (APPI, GDPR): the name, address, company, attributes and form answers are removed from every table, and the address stays on the suppression list so it is never mailed again. Counts in reports stay. This cannot be undone.":
        "個人情報保護法・GDPRに基づく削除請求用です。氏名・メールアドレス・会社名・属性・フォーム回答をすべてのテーブルから削除し、二度と配信しないようアドレスは配信停止リストに残します。レポートの集計値は残ります。元に戻すことはできません。",
    "To confirm, type the email address or ERASE": "確認のため、メールアドレスまたは「削除」と入力してください",
    "Nothing was erased: type the contact's email address or ERASE to confirm.":
        "削除していません。確認のため、コンタクトのメールアドレスまたは「削除」と入力してください。",
    "The contact's personal data was erased. The address stays on the suppression list.":
        "コンタクトの個人データを削除しました。アドレスは配信停止リストに残ります。",
    "contact not found": "コンタクトが見つかりません",
    "erased": "個人データ削除",
}
