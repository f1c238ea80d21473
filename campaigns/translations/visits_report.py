"""Japanese of the website report's mail picker (broadcasts and journey mails) and its links to and from the
broadcast report. シナリオ for a journey, 一斉配信 for a broadcast, as elsewhere in the UI."""

JA = {
    "Journey: %(name)s": "シナリオ：%(name)s",
    "Broadcast report: %(name)s": "一斉配信レポート：%(name)s",
    "Website visits after its clicks": "クリック後のWebサイト訪問",
    "Once a broadcast is sent or a journey is published, this shows which pages the people who clicked its mails "
    "went on to visit.": "一斉配信を送信するかシナリオを公開すると、メールをクリックした人がその後に訪問したページがここに表示されます。",
}
