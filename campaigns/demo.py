"""Demo data for the quick start: a user, sender settings, a few hundred contacts, two templates, a form and
one live journey built and published through the journey service (CLI `nurture seed-demo`, run by
`nurture run` on first start)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.audience import segment_counts
from campaigns.automation import service as journeys
from campaigns.db import now_utc
from campaigns.delivery.rendering import create_template
from campaigns.demo_history import seed_history
from campaigns.journeys.sequences import create_sequence
from campaigns.leads.forms import FormInput, create_form
from campaigns.models import Contact, Journey, Segment, User
from campaigns.runtime import Services
from campaigns.users import create_user, get_account

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "nurture-demo"

_LAST = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "Smith", "Johnson"]
_FIRST = ["太郎", "花子", "健一", "美咲", "翔", "陽菜", "大輔", "さくら", "Emily", "James", "蓮", "結衣"]
_COMPANIES = ["株式会社サンプル", "テックフロンティア株式会社", "グローバル商事", "Acme Corp", "ミライ製作所",
              "クラウドワークス研究所", "Northwind KK", "東京データ株式会社"]
_TITLES = ["部長", "課長", "マネージャー", "エンジニア", "Marketing Manager", "CTO", "営業担当", "主任"]
_SOURCES = ["whitepaper", "webinar", "trade_show", "website_form", "csv_import"]
_INDUSTRIES = ["IT", "Manufacturing", "Finance", "Retail", "Healthcare"]

# The demo's mails are fragments: they get the shipped layout (templates/email/layout.html: width, fonts,
# the button style, fixes for mail clients) like a marketer's own would. Each mail built from it scores
# below 2.0 in SpamAssassin (tests/delivery/test_spamassassin.py).
WHITEPAPER_HTML = """<style>
  h1 { color: #2f6fde; font-size: 22px; }
  h2 { font-size: 17px; margin-top: 24px; }
</style>
<p>{{ contact.company }}<br>{{ contact.last_name | default("ご担当者") }}様</p>
<h1>資料のダウンロードありがとうございます</h1>
<p>このたびは「リードナーチャリング実践ガイド」をご請求いただき、誠にありがとうございます。
下記のボタンから資料をご覧いただけます。リンクの有効期限はありませんので、社内でのご検討にもご活用ください。</p>
<p><a class="button" href="https://example.com/whitepaper.pdf">ホワイトペーパーを開く</a></p>
<h2>このガイドでわかること</h2>
<ul>
  <li>展示会やウェブフォームで獲得したリードを、商談につながる見込み客へ育てるための基本的な考え方</li>
  <li>資料請求から商談化までのステップメールの設計例と、配信の間隔・件名の決め方</li>
  <li>開封やクリックをもとにしたスコアリングと、営業部門へ引き渡すタイミングの決め方</li>
  <li>少人数のマーケティングチームでも無理なく続けられる運用体制とレポートの作り方</li>
</ul>
<h2>あわせてお読みください</h2>
<p>実際にリードナーチャリングを導入した企業の取り組みを、導入事例として公開しています。
製造業、IT、金融など業種ごとに、どのような課題があり、どのように解決したのかをご紹介しています。
導入事例は <a href="https://example.com/cases">こちら</a> からご覧いただけます。</p>
<h2>無料オンラインセミナーのご案内</h2>
<p>ガイドの内容を、実際の画面を使いながら 45 分で解説するオンラインセミナーを毎月開催しています。
リードの獲得から商談化までの流れを、メールの文面やスコアの設定例とあわせてご紹介します。
セミナーの最後には質疑応答の時間を設けていますので、日頃の運用で気になっている点もぜひご質問ください。
参加は無料で、録画の視聴のみのお申し込みも受け付けています。日程と詳しい内容は
<a href="https://example.com/webinar">セミナーのページ</a> でご確認いただけます。</p>
<h2>次回のお知らせ</h2>
<p>次回のメールでは、ガイドの第二章で取り上げている「スコアリングの始め方」について、設定の手順を画面の例とあわせてご紹介する予定です。
開封やクリック、資料のダウンロードといった行動にそれぞれ点数をつけ、合計が一定の点数を超えた見込み客を営業に知らせる仕組みは、
少ない手間で始められ、営業とマーケティングの連携を大きく改善します。どうぞお楽しみに。</p>
<h2>よくいただくご質問</h2>
<p>「既存の名刺データや顧客リストを取り込めますか」というご質問をよくいただきます。
CSV ファイルから取り込むことができ、重複したメールアドレスは自動でまとめられます。
また、配信を希望されない方には今後お送りしないよう、配信停止の状態も一緒に管理されます。</p>
<p>「どのくらいの頻度でメールを送ればよいですか」というご質問も多くいただきます。
一般的には、資料請求の直後に一通、その後は一週間から二週間に一通程度から始め、開封率や配信停止の数を見ながら調整するのがおすすめです。
ガイドの第三章では、配信頻度を決めるための考え方と、実際の数字を使った見直しの例を詳しくご紹介しています。
受け取る方にとって役に立つ情報を、ちょうどよい間隔でお届けすることが、長く読んでいただくための一番の近道です。
また、件名には内容がひと目でわかる言葉を選び、本文の最初の数行で読む理由をお伝えすることも大切です。
ガイドの付録には、開封率の高かった件名の例と、避けたほうがよい表現の一覧を収録していますので、あわせてご活用ください。</p>
<p>ご不明な点やご相談がございましたら、このメールにご返信いただくか、下記の窓口までお気軽にお問い合わせください。
今後とも、どうぞよろしくお願いいたします。</p>
<p>Nurture Demo株式会社 マーケティング部<br>
メールマガジンのバックナンバーは <a href="https://example.com/newsletter">こちら</a> からお読みいただけます。</p>
"""

CASE_STUDY_HTML = """<style>
  h2 { color: #1f8a4c; }
  h3 { font-size: 16px; margin-top: 20px; }
</style>
<p>{{ contact.company }}<br>{{ contact.job_title | default("ご担当者") }} {{ contact.last_name }} {{ contact.first_name }}様</p>
<h2>導入事例のご紹介</h2>
<p>先日は資料をご覧いただき、ありがとうございました。
{{ contact.job_title | default("ご担当者") }}の方に特によく読まれている導入事例を、二つ選んでお届けします。</p>
<h3>製造業：商談化率が 2.3 倍に</h3>
<p>展示会で集めた名刺を営業担当が個別にフォローしていた製造業のお客様では、資料請求の内容に合わせたステップメールを導入しました。
興味の高い見込み客だけを営業に引き渡すようにしたことで、半年で商談化率が 2.3 倍になりました。
<a href="https://example.com/cases/manufacturing">事例を読む</a></p>
<h3>IT企業：MQL 数が 40% 増加</h3>
<p>ウェビナーの参加者へのフォローが追いついていなかった IT 企業のお客様では、参加後のお礼メールと事例紹介を自動化しました。
担当者の作業時間を減らしながら、マーケティング部門が営業に渡す見込み客の数が 40% 増えました。
<a href="https://example.com/cases/it">事例を読む</a></p>
<h3>金融：問い合わせ対応の時間を半分に</h3>
<p>商品説明の問い合わせが多かった金融サービスのお客様では、資料請求のあとに、よくある質問への回答をまとめたメールを三回に分けて届けるようにしました。
お客様が必要な情報を先に受け取れるようになったことで、電話での問い合わせ対応にかかる時間が半分になり、
担当者はより具体的なご相談に時間を使えるようになりました。
<a href="https://example.com/cases/finance">事例を読む</a></p>
<h3>三つの事例に共通すること</h3>
<p>どの事例でも、最初から大がかりな仕組みを作るのではなく、資料請求のお礼メールという小さな一歩から始めています。
効果を数字で確かめながら、配信の内容や間隔を少しずつ見直していくことが、成果につながる近道でした。</p>
<p>自社の場合にどのように進めればよいか、30 分のオンライン相談で具体的にご説明しています。
導入するかどうかお決めになる前の情報収集にもご利用いただけますので、お気軽にお申し込みください。</p>
<p><a href="https://example.com/demo">オンライン相談を予約する</a></p>
<p>Nurture Demo株式会社 カスタマーサクセス部</p>
"""


def seed_demo(svc: Services, contacts: int = 300, seed: int = 7) -> str:
    """Load the demo data once; a second call changes nothing. Returns a summary line."""

    rng = random.Random(seed)
    with svc.db.begin() as s:
        if s.scalar(select(func.count()).select_from(User)):
            return "demo data already present"
        create_user(s, DEMO_EMAIL, DEMO_PASSWORD, "Demo Marketer")
        account = get_account(s)
        account.company_name = "Nurture Demo株式会社"
        account.from_name = "Nurture Demo"
        account.from_email = "marketing@example.com"
        account.postal_address = "〒150-0002 東京都渋谷区渋谷1-2-3"
        account.contact_info = "support@example.com / 03-1234-5678"
        account.timezone = "Asia/Tokyo"

        now = now_utc()
        rows = []
        for i in range(contacts):
            rows.append(Contact(
                email=f"lead{i:04d}@example.com",
                first_name=rng.choice(_FIRST), last_name=rng.choice(_LAST),
                company=rng.choice(_COMPANIES), job_title=rng.choice(_TITLES),
                source=rng.choice(_SOURCES),
                timezone="Asia/Tokyo" if rng.random() < 0.85 else "America/New_York",
                attributes={"industry": rng.choice(_INDUSTRIES), "employees": rng.choice([10, 50, 200, 1000])},
                consent_at=now - timedelta(days=rng.randint(1, 300)), consent_method="demo",
                consent_source="demo data", consent_text="資料請求フォームでメール受信に同意",
            ))
        s.add_all(rows)
        s.flush()

        whitepaper = create_template(s, "ホワイトペーパー送付", subject="【資料】リードナーチャリング実践ガイドをお届けします",
                                     html_source=WHITEPAPER_HTML, from_name="Nurture Demo")
        case_study = create_template(s, "導入事例のご紹介", subject="{% if contact.company %}{{ contact.company }}様へ：{% endif %}導入事例のご紹介",
                                     html_source=CASE_STUDY_HTML, from_name="Nurture Demo")
        form = create_form(s, FormInput(
            name="ホワイトペーパー請求", slug="whitepaper", title="リードナーチャリング実践ガイド（無料）",
            description="フォームにご記入いただくと、資料をすぐにメールでお送りします。", submit_label="資料を受け取る",
            consent_text="Nurture Demo株式会社からの製品・セミナー情報のメール受信に同意します。配信はいつでも停止できます。",
            source="whitepaper", thank_you_message="ありがとうございます。資料をメールでお送りしました。",
        ))
        # The whitepaper at once, then the case study three days later on a weekday between 9 and 18.
        journey = journeys.create_journey(
            s, "ホワイトペーパー フォローアップ",
            description="Whitepaper download: send it at once, a case study 3 days later.",
            graph={"start": "whitepaper", "layout": {}, "nodes": [
                {"id": "whitepaper", "type": "send", "template_id": whitepaper.id, "name": "資料送付"},
                {"id": "three-days", "type": "wait", "wait": {"minutes": 3 * 24 * 60}},
                {"id": "weekday", "type": "wait",
                 "wait": {"window": {"days": "12345", "start_hour": 9, "end_hour": 18}}},
                {"id": "case-study", "type": "send", "template_id": case_study.id, "name": "導入事例"},
            ], "edges": [
                {"from": "whitepaper", "exit": "next", "to": "three-days"},
                {"from": "three-days", "exit": "next", "to": "weekday"},
                {"from": "weekday", "exit": "next", "to": "case-study"},
            ]},
            settings={"entry": [{"kind": "event", "name": "whitepaper_downloaded"},
                                {"kind": "form", "form_id": form.id}],
                      # The goal a B2B nurture aims at: the lead asks for a consultation (sales takes over).
                      "goal": {"kind": "event", "name": "consultation_requested"},
                      "exit": {"events": ["demo_booked"]}},
        )
        journeys.publish(s, journey, published_by="demo")
        enrolled = journeys.enrol_contacts(s, journey, [c.id for c in rows[:20]], "whitepaper_downloaded")
        history = seed_history(s, svc.settings, rows, journey, now=now, seed=seed)  # campaigns.demo_history
        segments = _segments(s, svc, now)
        # A draft sequence: the sequences list shows one, and its page says what activating does (it would run
        # as a journey; the demo's one live journey stays the only campaign running now).
        create_sequence(s, "ウェビナー参加者フォロー", description="Webinar attendees: the case study, then the whitepaper a week later.",
                        trigger_events=["webinar_attended"], exit_events=["demo_booked"], steps=[
                            {"template_id": case_study.id, "delay_minutes": 60},
                            {"template_id": whitepaper.id, "delay_minutes": 7 * 24 * 60,
                             "window_days": "12345", "window_start_hour": 9, "window_end_hour": 18}])
    return (f"demo data loaded: {contacts} contacts, 2 templates, 1 live journey ({enrolled} enrolled), "
            f"1 form (/f/whitepaper), {segments} segments, 1 draft sequence, {history}; "
            f"log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")


# The saved segments a marketer would make first, over what the history gave the contacts.
_SEGMENTS = [
    ("MQL・ホットリード", {"all": [{"field": "stage", "op": "in", "value": ["hot", "mql"]}]}),
    ("ウェビナー参加者（過去60日）", {"all": [{"event": "webinar_attended", "within_days": 60}]}),
    ("IT業界の役職者", {"all": [{"field": "attributes.industry", "op": "eq", "value": "IT"},
                             {"field": "job_title", "op": "in", "value": ["部長", "課長", "CTO", "マネージャー"]}]}),
    ("30日間メールを開いていない", {"all": [{"engagement": "not_opened", "within_days": 30},
                                      {"field": "stage", "op": "in", "value": ["cold", "warm"]}]}),
]


def _segments(s: Session, svc: Services, now: datetime) -> int:
    """The demo's segments, counted now: the list shows counts on first start instead of 'not counted yet'
    (the scheduler recounts them every REFRESH_SECONDS; campaigns.audience.segment_counts). The counts read
    this transaction's rows; without Redis they are simply counted on the list's first view."""
    made = [Segment(name=name, rules=rules, created_at=now, updated_at=now) for name, rules in _SEGMENTS]
    s.add_all(made)
    s.flush()
    for segment in made:
        segment_counts.count_now(s, svc.redis, segment, now)
    return len(made)


def demo_journey_id(svc: Services) -> int | None:
    """The demo journey's id (tests of the quick start)."""
    with svc.db.begin() as s:
        return s.scalar(select(Journey.id).order_by(Journey.id).limit(1))
