"""Japanese of the counts made ahead (segments list), the dashboard's trends and the reports' journey section
(issues 18 and 19). A segment is a セグメント, a journey a シナリオ, as elsewhere."""

JA = {
    "Recount all": "すべて再集計",
    "Recount": "再集計",
    "Not counted yet": "未集計",
    "counted at %(time)s": "%(time)s 集計",
    "Counted %(name)s again.": "%(name)s を再集計しました。",
    "Counts are made ahead of time and refreshed every few minutes; each shows when it was counted.":
        "件数は前もって集計し、数分ごとに更新します。それぞれに集計した日時を表示しています。",
    "Every segment will be counted again within a few minutes. Reload this page to see the new counts.":
        "数分以内にすべてのセグメントを再集計します。このページを再読み込みすると新しい件数が表示されます。",
    "Counted at %(time)s; recounted at most a minute later.": "%(time)s 時点の集計です（最大1分ごとに再集計）。",
    "Journeys live or paused now: who is in them and how their walks ended (test walks left out). Each journey's "
    "report shows every step.": "公開中・一時停止中のシナリオ：いま参加している人数と、参加の結果（テスト送信分は除く）。"
                                "各シナリオのレポートでステップごとの数字を確認できます。",
    "In it now": "参加中",
    "Entered": "参加数",
    "Left early": "途中で離脱",
    "A journey's figures appear here while it is live or paused: who is in it now, who reached its goal, who left.":
        "シナリオを公開すると、ここに数字が表示されます：参加中の人数、ゴールに到達した人数、離脱した人数。",
}
