"""Japanese of the sequences' and journeys' triggers in words on the list pages (campaigns/views/entry_words.py).
The marketer's own names (events, segments, lists, forms) go inside 「」 as typed."""

JA = {
    "Opened or clicked a mail": "メールの開封・クリック",  # where score points came from (contact page)
    "entry|Added by hand": "手動で登録",  # how contacts enter (手動で追加 elsewhere: a contact added to a list)
    "entry|Triggers": "開始条件",  # events, a segment, forms or by hand: more than events (開始イベント)
    'Event "%(name)s"': "イベント「%(name)s」",
    'Enters segment "%(name)s"': "セグメント「%(name)s」に入ったとき",
    "A deleted segment": "削除されたセグメント",
    'Added to list "%(name)s"': "リスト「%(name)s」に追加されたとき",
    "A deleted list": "削除されたリスト",
    'Sends form "%(name)s"': "フォーム「%(name)s」の送信",
    "A deleted form": "削除されたフォーム",
    "Reaches stage %(stage)s": "ステージが%(stage)sになったとき",
    'A date in event "%(name)s"': "イベント「%(name)s」の日付",
    'A date in contact field "%(name)s"': "コンタクト項目「%(name)s」の日付",
    "Another trigger": "その他の条件",
}
