"""Japanese of A/B tests on journey send nodes (the canvas's panel and live figures, the graph's refusals) and of
the sunset suppression (issue 17 / issue 19: 休眠掘り起こし). A journey is a シナリオ, a send node 「メール送信」."""

_NODE = 'node "%(node)s" (%(node_type)s): '
_JA_NODE = "ステップ「%(node)s」（%(node_type)s）: "

JA = {
    # the canvas: the send node's A/B panel
    "Test variants of this mail (A/B test)": "このメールのパターンをテストする（A/Bテスト）",
    "Send different versions of this mail to shares of the contacts; the better one then goes to everyone after "
    "them.": "このメールの複数のパターンをコンタクトに割合で振り分けて送り、成績のよいパターンをその後の全員に送ります。",
    "Variants (A is the mail above)": "パターン（Aは上で選んだメール）",
    "Variant %(key)s": "パターン%(key)s",
    "Share of contacts for variant %(key)s": "パターン%(key)sに振り分ける割合",
    "Add a variant": "パターンを追加",
    "The winner is the variant with more": "勝ちパターンの判定基準",
    "Opens (people only)": "開封数（人による開封のみ）",
    "Clicks (people only)": "クリック数（人によるクリックのみ）",
    "Split new contacts for at most (days)": "振り分けの最長期間（日）",
    "…or until each variant has (mails)": "…または各パターンの送信数がこの数に達するまで（通）",
    "Count opens and clicks for (hours after each mail)": "開封・クリックを数える期間（各メールの送信後、時間）",
    "After the test": "テスト終了後",
    "Send the winner to everyone after": "勝ちパターンをその後の全員に送る",
    "I choose the winner myself": "勝ちパターンは自分で選ぶ",
    "An A/B test needs at least two variants.": "A/Bテストには2つ以上のパターンが必要です。",
    "Choose a template for each variant.": "各パターンのテンプレートを選んでください。",
    "A/B test": "A/Bテスト",
    "Testing: the split goes on until each variant has %(n)s mails or the days are up.":
        "テスト中：各パターンの送信数が %(n)s 通に達するか、期間が終わるまで振り分けます。",
    "Split closed: waiting for the last opens and clicks, then the statistics decide.":
        "振り分け終了：最後の開封・クリックを待ってから、統計で判定します。",
    "Decided by the statistics: waiting for you to choose the winner.": "統計の判定が出ました。勝ちパターンを選んでください。",
    "Variant %(name)s goes to everyone from now on.": "これからはパターン%(name)sを全員に送ります。",
    "Stopped.": "停止しました。",
    "See the A/B test results": "A/Bテストの結果を見る",
    # the canvas: the suppress action
    "Stop marketing mail (sunset)": "配信停止にする（休眠）",
    "The contact goes on the suppression list with the reason “sunset”: no broadcast, sequence or journey mail "
    "reaches them any more. You can lift it on the suppression list.":
        "コンタクトを理由「休眠」で配信停止リストに追加します。一斉配信・ステップメール・シナリオのどのメールも届かなく"
        "なります。配信停止リストからいつでも解除できます。",
    # the suppression list and the contact page
    "Sunset: no reaction to re-engagement": "休眠：掘り起こしメールに反応なし",
    # the win-back playbook
    "Contacts who have not opened anything in 90 days hurt your deliverability. They get one mail asking whether "
    "they still want to hear from you; if they do not react within 30 days they are suppressed from all marketing "
    "mail (the suppression list, reason sunset; you can lift it there) and recorded on a sunset list.":
        "90日間何も開封していないコンタクトは到達率を下げます。配信を続けてよいかを確認するメールを1通送り、30日以内に"
        "反応がなければすべてのマーケティングメールを配信停止にし（配信停止リスト・理由「休眠」。そこから解除できます）、"
        "休眠リストに記録します。",
    "A sunset list and a dormant segment": "休眠リストと休眠セグメント",
    # the graph's refusals (GraphError: the node's prefix is part of the key)
    _NODE + "an A/B test needs at least two variants": _JA_NODE + "A/Bテストには2つ以上のパターンが必要です",
    _NODE + "an A/B test has at most %(max)s variants": _JA_NODE + "A/Bテストのパターンは最大 %(max)s つです",
    _NODE + "variant A is the node's own mail: its template must be the node's template":
        _JA_NODE + "パターンAはこのステップのメールです。このステップのテンプレートを指定してください",
    _NODE + "variant %(variant)s sends the same template as an earlier variant; variants must differ":
        _JA_NODE + "パターン%(variant)sは前のパターンと同じテンプレートです。パターンごとに違うテンプレートにしてください",
    _NODE + "the A/B variants' percentages add up to %(total)s, not 100":
        _JA_NODE + "A/Bテストの割合の合計が %(total)s%% です。100%% にしてください",
    _NODE + "ab.metric must be one of %(valid)s": _JA_NODE + "ab.metric は %(valid)s のいずれかです",
    _NODE + "ab.winner must be one of %(valid)s": _JA_NODE + "ab.winner は %(valid)s のいずれかです",
    _NODE + "action.reason must be one of %(valid)s": _JA_NODE + "action.reason は %(valid)s のいずれかです",
    # A/B test set-up carried over from the graph (the results page's note)
    "Test replaced by a new set-up of this mail.": "このメールのテスト設定が変わったため、新しいテストに切り替えました。",
    "Test removed from the journey: the mail's own template is sent.":
        "シナリオからテストが外されました。このメールのテンプレートを送ります。",
}
