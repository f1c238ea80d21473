"""Japanese of the journey rules and service messages (campaigns.automation.graph GraphError,
campaigns.automation.service JourneyError): what the canvas and the API's callers read when a graph,
settings or a request is refused. A journey is a シナリオ and its nodes are ステップ, as on the canvas
(journeys_ui.py). A message about one node starts 'node "n3" (branch): ', so each rule's key is given
twice: bare (graph-wide and settings errors) and with that prefix, whose node type is translated too."""

_PREFIX = ('node "%(node)s" (%(node_type)s): ', "ステップ「%(node)s」（%(node_type)s）: ")

# Node types, filled into the prefix (values that are keys are translated as well).
_TYPES = {
    "send": "メール送信",
    "wait": "待機",
    "wait_for": "反応を待つ",
    "branch": "条件分岐",
    "split": "ランダム分割",
    "action": "アクション",
    "end": "終了",
    "unknown type": "不明な種類",
}

# Rules that name a node (the prefix is added below) or a part of the graph or settings (bare).
_RULES = {
    "template %(id)s does not exist": "メールテンプレート %(id)s は存在しません",
    "template %(id)s is archived": "メールテンプレート %(id)s はアーカイブ済みです",
    "list %(id)s does not exist": "リスト %(id)s は存在しません",
    "list %(id)s is archived": "リスト %(id)s はアーカイブ済みです",
    "form %(id)s does not exist": "フォーム %(id)s は存在しません",
    "form %(id)s is archived": "フォーム %(id)s はアーカイブ済みです",
    "segment %(id)s does not exist": "セグメント %(id)s は存在しません",
    "segment %(id)s is archived": "セグメント %(id)s はアーカイブ済みです",
    "journey %(id)s does not exist": "シナリオ %(id)s は存在しません",
    "trigger %(id)s does not exist": "営業への通知設定 %(id)s は存在しません",
    "a journey cannot enrol contacts in itself": "シナリオ自身にコンタクトを登録することはできません",
    "%(what)s must be an object": "%(what)s はオブジェクトで指定してください",
    '%(what)s has an unknown field "%(field)s"': "%(what)s に不明な項目「%(field)s」があります",
    '%(what)s needs "%(field)s"': "%(what)s には「%(field)s」が必要です",
    "%(what)s must be a whole number": "%(what)s は整数で指定してください",
    "%(what)s must be between %(low)s and %(high)s": "%(what)s は %(low)s〜%(high)s の範囲で指定してください",
    "%(what)s must be a text": "%(what)s は文字列で指定してください",
    "%(what)s must not be empty": "%(what)s を入力してください",
    "%(what)s is too long (at most %(max)s characters)": "%(what)s が長すぎます（%(max)s 文字以内）",
    "%(what)s: %(reason)s": "%(what)s: %(reason)s",
    '%(what)s must be 1 to 40 letters, digits, "-" or "_"': "%(what)s は半角英数字・「-」・「_」の1〜40文字で指定してください",
    "%(what)s must be one of %(valid)s": "%(what)s は次のいずれかで指定してください: %(valid)s",
    "%(what)s must be an object of property: value": "%(what)s は「プロパティ: 値」の形で指定してください",
    "%(what)s has more than %(max)s properties": "%(what)s のプロパティは %(max)s 個までです",
    "%(what)s must have a kind: one of %(kinds)s": "%(what)s の種類を次から指定してください: %(kinds)s",
    "%(what)s must be an http:// or https:// address": "%(what)s は http:// または https:// で始まるURLにしてください",
    'needs "template_id" (the mail to send)': "送信するメールテンプレートを選んでください",
    '"wait" must be one of {"minutes": N}, {"window": {...}} or {"date": {...}}':
        "待機は「時間」「曜日と時間帯」「日付」のいずれかで指定してください",
    'wait.window.days must list weekdays as digits 1 (Monday) to 7 (Sunday), e.g. "12345"':
        "曜日を1つ以上選んでください（1＝月曜〜7＝日曜、例: 12345）",
    "wait.window.end_hour must differ from start_hour": "時間帯の終了時刻は開始時刻と別の時刻にしてください（開始より前なら翌朝まで）",
    'wait.date needs one of "attribute" or "event_property"': "日付の基準に、属性かイベントのプロパティのどちらかを指定してください",
    "wait.date.%(source)s is not a valid attribute name": "日付の基準（%(source)s）の名前が正しくありません",
    'needs "until" (what to wait for)': "何を待つかを指定してください",
    'needs "timeout" (how long to wait at most)': "最長の待ち時間を指定してください",
    'a branch needs at least one condition besides "else"': "条件分岐には「それ以外」のほかに条件が1つ以上必要です",
    "a branch has at most %(max)s conditions": "条件分岐の条件は %(max)s 個までです",
    '"else" is the branch\'s own last exit; choose another key for %(what)s':
        "「else」は条件分岐の最後の出口（それ以外）に使われています。%(what)s には別のキーを指定してください",
    'two branches have the key "%(key)s"': "キー「%(key)s」の条件が2つあります",
    '%(what)s: previous_mail must be "opened" or "clicked"': "%(what)s: 直前のメールの条件は「開封した」か「クリックした」です",
    '%(what)s: the condition must be {"rules": ...} or {"previous_mail": ...}':
        "%(what)s: 条件はセグメントのルールか直前のメールへの反応で指定してください",
    "a split needs at least two paths": "ランダム分割にはパスが2つ以上必要です",
    "a split has at most %(max)s paths": "ランダム分割のパスは %(max)s 個までです",
    'two paths have the key "%(key)s"': "キー「%(key)s」のパスが2つあります",
    "the split's percentages add up to %(total)s, not 100": "ランダム分割の割合の合計が %(total)s%% です。100%% にしてください",
    "action must have a kind: one of %(kinds)s": "アクションの種類を次から指定してください: %(kinds)s",
    "action.key is not a valid attribute name": "属性名が正しくありません",
    "action.points must not be 0": "加算するスコアに0は指定できません",
    'unknown field "%(field)s"': "不明な項目「%(field)s」があります",
    "unknown node type %(type)s (known: %(known)s)": "不明なステップの種類 %(type)s です（使える種類: %(known)s）",
    "two nodes have this id": "同じIDのステップが2つあります",
    "exit %(exit)s does not exist (exits: %(exits)s)": "出口 %(exit)s はありません（出口: %(exits)s）",
    'exit "%(exit)s" leads to a node that does not exist (%(id)s)': "出口「%(exit)s」の接続先のステップ %(id)s がありません",
    'exit "%(exit)s" has two connections (to "%(a)s" and "%(b)s")':
        "出口「%(exit)s」が2つのステップ（「%(a)s」と「%(b)s」）につながっています",
    '%(key)s: "%(watched)s" is not a send node of this journey': "%(key)s: 「%(watched)s」はこのシナリオのメール送信ステップではありません",
    "no path from the start reaches this node": "開始からこのステップにたどり着く経路がありません",
    "this node is on a loop that passes through no wait; add a wait or a wait for to the loop":
        "このステップは待機を含まないループの中にあります。ループに「待機」か「反応を待つ」を入れてください",
    "settings.entry must be a list of triggers": "開始条件の指定が正しくありません",
    "settings.entry has at most %(max)s triggers": "開始条件は %(max)s 個までです",
    "settings.reentry must be true or false": "再登録の可否の指定が正しくありません",
    '%(what)s needs one of "attribute" or "event_property"': "%(what)s には属性かイベントのプロパティのどちらかを指定してください",
    "%(what)s: %(name)s is not a valid attribute name": "%(what)s: %(name)s は属性名として正しくありません",
    "settings.exit.events must be a list of at most %(max)s event names": "離脱条件のイベントは %(max)s 個までです",
    "settings.exit.stages must be a list of stages": "離脱条件のステージの指定が正しくありません",
    'settings.exit.segment_when must be "in" or "out"': "離脱条件のセグメントは「入ったとき」か「外れたとき」で指定してください",
}

# Messages about the graph as a whole.
_GRAPH = {
    "node %(index)s must be an object": "%(index)s 番目のステップの指定が正しくありません",
    'node %(index)s: its id must be 1 to 40 letters, digits, "-" or "_"':
        "%(index)s 番目のステップのIDは半角英数字・「-」・「_」の1〜40文字で指定してください",
    "the graph must be plain JSON (objects, lists, texts, numbers)": "シナリオの形式が正しくありません",
    "the graph must be an object with start, nodes and edges": "シナリオの形式が正しくありません（start・nodes・edges が必要です）",
    'the graph has an unknown field "%(field)s"': "シナリオに不明な項目「%(field)s」があります",
    "the graph is too large (at most %(max)s KB as JSON)": "シナリオが大きすぎます（JSONで %(max)s KB まで）",
    "nodes must be a list": "ステップの指定が正しくありません",
    "edges must be a list": "接続の指定が正しくありません",
    "layout must be an object": "配置の指定が正しくありません",
    "the journey has no nodes yet": "シナリオにまだステップがありません",
    "a journey has at most %(max)s nodes (this one has %(count)s)": "ステップは %(max)s 個までです（現在 %(count)s 個）",
    "a journey has at most %(max)s connections": "接続は %(max)s 個までです",
    'the graph has no start node ("start" must name a node)': "開始ステップが指定されていません",
    'the start node "%(start)s" does not exist': "開始ステップ「%(start)s」がありません",
    'connection %(index)s must be {"from": node, "exit": exit, "to": node}': "%(index)s 番目の接続の指定が正しくありません",
    "connection %(index)s starts at a node that does not exist (%(id)s)": "%(index)s 番目の接続の元のステップ %(id)s がありません",
}

# The service (campaigns.automation.service.JourneyError).
_SERVICE = {
    "the journey needs a name": "シナリオ名を入力してください",
    "the name is too long (at most %(max)s characters)": "シナリオ名が長すぎます（%(max)s 文字以内）",
    "the description must be a text": "説明は文字列で指定してください",
    "the description is too long (at most %(max)s characters)": "説明が長すぎます（%(max)s 文字以内）",
    "an archived journey cannot be edited; duplicate it instead": "アーカイブ済みのシナリオは編集できません。複製してから編集してください",
    "an archived journey cannot be published; duplicate it instead": "アーカイブ済みのシナリオは公開できません。複製してください",
    "an archived journey cannot be tested; duplicate it instead": "アーカイブ済みのシナリオはテストできません。複製してください",
    'node "%(node)s" is not removed by this version; only removed nodes can be moved':
        "ステップ「%(node)s」は削除されないため、移動先は指定できません",
    'contacts at node "%(node)s" cannot move to "%(target)s": no such node in the new version':
        "ステップ「%(node)s」のコンタクトの移動先「%(target)s」は、新しいバージョンにありません",
    '%(count)s contacts are at node "%(node)s", which this version removes: choose a node for them, or "exit"':
        "削除するステップ「%(node)s」に %(count)s 件のコンタクトがいます。移動先のステップか「シナリオから外す」を選んでください",
    "only a live journey can be paused": "一時停止できるのは公開中のシナリオだけです",
    "only a paused journey can be resumed": "再開できるのは一時停止中のシナリオだけです",
    "contacts can only be enrolled in a live journey (this one is %(status)s)":
        "コンタクトを登録できるのは公開中のシナリオだけです（このシナリオの状態: %(status)s）",
    "the journey has no published version": "このシナリオには公開済みのバージョンがありません",
    "the context must be an object": "コンテキストはオブジェクトで指定してください",
    "%(email)s is not a valid email address": "%(email)s は正しいメールアドレスではありません",
    "%(email)s is unsubscribed, bounced or suppressed, so it cannot receive the test":
        "%(email)s は配信停止・エラー・配信除外のため、テストメールを受け取れません",
    # journey statuses filled into the message above ("draft" and "paused" are in the catalog)
    "archived": "アーカイブ済み",
}

JA: dict[str, str] = {
    **_TYPES,
    **_GRAPH,
    **_SERVICE,
    **_RULES,
    **{_PREFIX[0] + en: _PREFIX[1] + ja for en, ja in _RULES.items()},
}
