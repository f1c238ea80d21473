"""Japanese of a contact's path through a journey (the contact page's "Sequences and journeys": node by node,
entered, left and by which exit, in words) and of the small wording fixes beside it (A/B test decided by,
broadcast statuses, contact sources on the KPI page). A journey is a シナリオ, a node a ステップ."""

JA = {
    # the path of the latest walk of each journey
    "Path (%(n)s steps)": "たどった経路（%(n)s件）",
    "and %(n)s earlier steps": "ほか以前のステップ %(n)s件",
    "Here now": "現在ここ",
    # a node's type, for nodes without a name
    "Send mail": "メール送信",
    "Wait": "待機",
    "Wait for an event": "イベント待ち",
    "Branch": "分岐",
    "Random split": "ランダム分割",
    "Action": "アクション",
    "End": "終了",
    "Step": "ステップ",
    # the exit taken
    "Next": "次へ",
    "Matched the condition": "条件に一致",
    "Did not match": "一致せず",
    "Matched no condition": "どの条件にも一致せず",
    "Matched: %(label)s": "条件に一致：%(label)s",
    "It happened": "反応あり",
    "Timed out": "期限切れ",
    "Finished the journey": "シナリオを完了",
    "Left the journey": "シナリオから離脱",
    "Reached the goal": "ゴール達成",
    "Taken out when a new version was published": "新しいバージョンの公開時に除外",
    "Path %(key)s": "経路 %(key)s",
    "Moved on": "次へ進んだ",
    # what started the walk
    "Added by hand": "手動で追加",
    "Entered from a segment": "セグメントから開始",
    "Entered by an event": "イベントで開始",
    "Entered by a form": "フォーム送信で開始",
    "Entered by a stage change": "ステージの変化で開始",
    "Sent here by another journey": "別のシナリオから移動",
    "Moved from a sequence": "ステップメールから移行",
    "Added through the API": "APIで追加",
    "A test run": "テスト実行",
    # the A/B test page: who decided
    "decided automatically": "自動で決定",
    "picked by hand": "手動で決定",
    "picked through the API": "APIで決定",
    "test cancelled": "テスト中止",
}
