"""Demo data for the quick start: a user, sender settings, a few hundred contacts, two templates and
one active step-mail sequence (CLI `nurture seed-demo`, run by `nurture run` on first start)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from campaigns.db import now_utc
from campaigns.models import Contact, Sequence, User
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

WHITEPAPER_HTML = """<html><head><style>
  body { font-family: sans-serif; color: #1d2433; }
  h1 { color: #2f6fde; font-size: 22px; }
  .button { background: #2f6fde; color: #ffffff; padding: 10px 18px; border-radius: 4px; text-decoration: none; }
</style></head><body>
<h1>{{ contact.last_name | default("お客") }}様、資料のダウンロードありがとうございます</h1>
<p>{{ contact.company }} の皆さまに役立つ「リードナーチャリング実践ガイド」をお届けします。</p>
<p><a class="button" href="https://example.com/whitepaper.pdf">ホワイトペーパーを開く</a></p>
<p>導入事例は <a href="https://example.com/cases">こちら</a> からご覧いただけます。</p>
</body></html>"""

CASE_STUDY_HTML = """<html><head><style>
  body { font-family: sans-serif; color: #1d2433; }
  h2 { color: #1f8a4c; }
</style></head><body>
<h2>{{ contact.first_name | default("") }}さん、導入事例のご紹介</h2>
<p>{{ contact.job_title | default("ご担当者") }}の方に人気の事例をまとめました。</p>
<ul>
  <li><a href="https://example.com/cases/manufacturing">製造業：商談化率 2.3 倍</a></li>
  <li><a href="https://example.com/cases/it">IT企業：MQL 数 40% 増</a></li>
</ul>
<p><a href="https://example.com/demo">デモを予約する</a></p>
</body></html>"""


def seed_demo(svc: Services, contacts: int = 300, seed: int = 7) -> str:
    """Load the demo data once; a second call changes nothing. Returns a summary line."""
    from campaigns.leadforms import FormInput, create_form
    from campaigns.rendering import create_template
    from campaigns.sequences import create_sequence, enroll_contact, set_sequence_status

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
        case_study = create_template(s, "導入事例のご紹介", subject="{{ contact.company }}様へ：導入事例のご紹介",
                                     html_source=CASE_STUDY_HTML, from_name="Nurture Demo")
        sequence = create_sequence(
            s, "ホワイトペーパー フォローアップ",
            description="Whitepaper download: send it at once, a case study 3 days later.",
            steps=[
                {"template_id": whitepaper.id, "delay_minutes": 0, "window_days": "",
                 "window_start_hour": None, "window_end_hour": None},
                {"template_id": case_study.id, "delay_minutes": 3 * 24 * 60, "window_days": "12345",
                 "window_start_hour": 9, "window_end_hour": 18},
            ],
            trigger_events=["whitepaper_downloaded"], exit_events=["demo_booked"],
        )
        set_sequence_status(s, sequence, "active")
        create_form(s, FormInput(
            name="ホワイトペーパー請求", slug="whitepaper", title="リードナーチャリング実践ガイド（無料）",
            description="フォームにご記入いただくと、資料をすぐにメールでお送りします。", submit_label="資料を受け取る",
            consent_text="Nurture Demo株式会社からの製品・セミナー情報のメール受信に同意します。配信はいつでも停止できます。",
            sequence_ids=[sequence.id], source="whitepaper", thank_you_message="ありがとうございます。資料をメールでお送りしました。",
        ))
        enrolled = 0
        for contact in rows[:20]:
            if enroll_contact(s, contact, sequence, source_event="whitepaper_downloaded") is not None:
                enrolled += 1
    return (f"demo data loaded: {contacts} contacts, 2 templates, 1 active sequence ({enrolled} enrolled), "
            "1 form (/f/whitepaper); "
            f"log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")


def demo_sequence_id(svc: Services) -> int | None:
    """The demo sequence's id (tests of the quick start)."""
    with svc.db.begin() as s:
        return s.scalar(select(Sequence.id).order_by(Sequence.id).limit(1))
