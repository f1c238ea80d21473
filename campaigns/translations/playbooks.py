"""Japanese of the playbook page and the template gallery (campaigns/views/playbooks.py, gallery.py,
templates/ui/playbooks/). Playbooks are 施策テンプレート (journeys are シナリオ), the gallery テンプレートギャラリー."""

JA = {
    # navigation and headings
    "Playbooks": "施策テンプレート",
    "Template gallery": "テンプレートギャラリー",
    "All playbooks": "施策テンプレート一覧",
    "Proven nurturing scenarios, ready in one click. Each one creates its journey, mails, forms and segments as "
    "drafts you can read and change before anything is sent.":
        "実績のあるナーチャリング施策を、ワンクリックで用意できます。シナリオ・メール・フォーム・セグメントを"
        "すべて下書きとして作成するので、配信前に内容を確認して自社向けに書き換えられます。",
    "What it creates": "作成されるもの",
    "Mails in": "メールの言語",
    "Language of the mails": "メールの言語",
    "Japanese": "日本語",
    "English": "英語",
    "Install": "インストール",
    "Install “%(name)s”": "「%(name)s」をインストール",
    "Language of the mails and names": "メールと名前の言語",
    "Creates": "作成されるもの",
    "Everything is created switched off: journeys and broadcasts as drafts, forms, scoring rules and triggers "
    "inactive. Nothing is sent and no score changes until you publish or turn it on.":
        "すべて停止した状態で作成されます（シナリオと一斉配信は下書き、フォーム・スコアリングルール・トリガーは無効）。"
        "公開または有効にするまで、メールは送信されず、スコアも変わりません。",
    "Installing again makes a second copy with its own names; this copy is never changed.":
        "もう一度インストールすると、別の名前で2つ目のコピーが作成されます。今回作成したものは変更されません。",
    "“%(name)s” is installed as drafts. Read each piece, change what is yours, then publish.":
        "「%(name)s」を下書きとしてインストールしました。各項目を確認して自社向けに書き換えてから、公開してください。",
    "Installed: %(name)s": "インストール完了：%(name)s",
    "Everything below is a draft or switched off. Open each piece, replace the example links and details with "
    "yours, then publish the journey and turn on the forms, rules and triggers.":
        "以下はすべて下書き、または無効の状態です。各項目を開いて、例のリンクや日時などを自社のものに書き換えてから、"
        "シナリオを公開し、フォーム・ルール・トリガーを有効にしてください。",
    "Mail template": "メールテンプレート",
    "Scoring rule": "スコアリングルール",
    "Hand-over trigger": "営業引き渡しトリガー",
    "unknown playbook": "この施策テンプレートは存在しません",
    "the language must be Japanese or English": "言語は日本語または英語を選んでください",
    "this playbook is already installed %(max)s times": "この施策テンプレートはすでに%(max)s回インストールされています",
    # the gallery
    "Start a new mail from a ready-made one, written the way business mail is written in each language. The "
    "template opens in the block editor: replace the example links and details, then save.":
        "各言語のビジネスメールの作法で書かれたひな形から、新しいメールを作成できます。"
        "ブロックエディタで開くので、例のリンクや日時などを書き換えて保存してください。",
    "Use this mail": "このメールを使う",
    "Start from the gallery": "ギャラリーから作成",
    "Nurturing": "ナーチャリング",
    "Events and seminars": "イベント・セミナー",
    "Sales": "営業",
    "Template “%(name)s” created from the gallery. Change the links and details, then save.":
        "ギャラリーからテンプレート「%(name)s」を作成しました。リンクや詳細を書き換えて保存してください。",
    # the playbooks (campaigns/playbooks/__init__.py)
    "Document request follow-up": "資料請求フォロー",
    "Someone downloads your guide: they are interested now, not in a month. This journey thanks them with the guide "
    "at once, then sends a customer story on day 3, a problem article on day 7, a webinar invitation on day 14 and a "
    "consultation offer on day 21. It stops as soon as they ask for a consultation.":
        "資料を請求した方の関心がいちばん高いのは、今この瞬間です。すぐにお礼と資料をお届けし、3日後に導入事例、"
        "7日後に課題解説の記事、14日後にセミナーのご案内、21日後に個別相談のご案内をお送りします。"
        "個別相談のお申し込みがあった時点で終了します。",
    "A draft journey of five mails": "5通のメールからなるシナリオ（下書き）",
    "Five mail templates": "メールテンプレート 5件",
    "A document request form and a consultation form": "資料請求フォームと個別相談フォーム",
    "Trade show follow-up": "展示会フォロー",
    "After a show, business cards go cold within weeks. Import the badge scans with the show as their source and the "
    "journey thanks visitors the next morning, sends a customer story on day 4, a webinar invitation on day 10 and a "
    "survey with a consultation offer on day 20. Hot leads go straight to inside sales.":
        "展示会で交換した名刺は、数週間で温度が下がってしまいます。来場者リストを展示会名をソースにして取り込むと、"
        "翌朝にご来場のお礼、4日目に導入事例、10日目にセミナーのご案内、20日目にアンケートと個別相談のご案内をお送りします。"
        "見込み度の高い方は、すぐにインサイドセールスへ引き渡します。",
    "A draft journey with hand-over to inside sales": "インサイドセールスへの引き渡しを含むシナリオ（下書き）",
    "Four mail templates": "メールテンプレート 4件",
    "A segment of the show's visitors": "展示会来場者のセグメント",
    "A hand-over trigger (off)": "営業引き渡しトリガー（無効）",
    "Seminar and webinar": "セミナー・ウェビナー",
    "An invitation to your engaged contacts, a registration form, and a reminder the day before. Attendees get thanks "
    "with the recording and a survey the next morning; those who registered but missed it get the recording.":
        "反応のある連絡先への招待、申込フォーム、前日のリマインドまでを用意します。参加された方には翌朝にお礼と"
        "アーカイブ動画・アンケートを、お申し込みのうえご欠席の方には録画をお送りします。",
    "A draft journey that waits for attendance": "参加の有無で分岐するシナリオ（下書き）",
    "A registration form": "申込フォーム",
    "A segment of engaged contacts and a draft invitation broadcast": "反応のある連絡先のセグメントと、招待の一斉配信（下書き）",
    "Win back dormant contacts": "休眠顧客の掘り起こし",
    "Contacts who have not opened anything in 90 days hurt your deliverability. They get one mail asking whether they "
    "still want to hear from you; if they do not react within 30 days they move to a sunset list that your marketing "
    "audience leaves out.":
        "90日間メールを開封していない連絡先は、到達率を下げる原因になります。配信継続の意思を確認するメールを1通お送りし、"
        "30日以内に反応がなければ配信停止リストに移して、マーケティングメールの配信対象から外します。",
    "A draft journey with a sunset policy": "サンセットポリシーのシナリオ（下書き）",
    "A re-engagement mail template": "配信継続確認のメールテンプレート",
    "A sunset list and two segments (dormant, marketing audience)":
        "配信停止リストと2つのセグメント（休眠、マーケティング配信対象）",
    "Content by role": "役職別コンテンツ",
    "A director and an analyst want different things from the same company. This journey branches on the job title: "
    "heads of department and executives get a briefing on business metrics, practitioners a hands-on checklist.":
        "同じ会社でも、部長と現場の担当者が知りたいことは異なります。役職で分岐し、部長・役員クラスの方には"
        "経営指標の解説を、実務担当者の方にはすぐに使えるチェックリストをお送りします。",
    "A draft journey that branches on the job title": "役職で分岐するシナリオ（下書き）",
    "Two mail templates": "メールテンプレート 2件",
    "An entry list and a segment of executives": "開始用のリストと、部長以上のセグメント",
    "MQL hand-over to inside sales": "MQL → インサイドセールスへの引き渡し",
    "Agree with sales on when a lead is ready. This scoring preset gives points for seniority, document downloads, "
    "webinar attendance and pricing page visits, makes a contact an MQL when they ask for a consultation, and mails "
    "inside sales the moment that happens.":
        "どの段階で営業に渡すかを、営業部門と合意しておきましょう。役職・資料ダウンロード・ウェビナー参加・料金ページの閲覧に"
        "点数を付け、個別相談のお申し込みでMQLにし、その時点でインサイドセールスにメールで知らせるスコアリング設定です。",
    "Four scoring rules (off)": "スコアリングルール 4件（無効）",
    "A hand-over trigger to sales (off)": "営業への引き渡しトリガー（無効）",
    "A consultation form": "個別相談フォーム",
    "A draft journey adding 10 points for seniority": "部長以上に10点を加えるシナリオ（下書き）",
}
