"""The six playbooks: what each one creates, in Japanese or English (docs/playbooks.md tells the story).

Each function takes an `Installation` (campaigns.playbooks.builder) and creates its objects through it, in
the installation's language: `w(ja, en)` picks the words. The journeys are the ones a Japanese B2B marketer
would draw on the canvas: timed follow-ups on weekday working hours, a goal that ends the walk when the lead
asks for a meeting, branches on what the contact did or is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from campaigns.db import now_utc
from campaigns.playbooks.builder import DAY, Flow, Installation

Words = Callable[[str, str], str]

# Job titles of executives and heads of department ("部長 or above"); "部長" also matches 本部長 and 事業部長,
# "役員" 執行役員, "President" Vice President. Text matching ignores ASCII case.
EXECUTIVE_TITLES = ("部長", "役員", "取締役", "社長", "会長", "CEO", "CTO", "CFO", "CMO", "COO", "CIO",
                    "Director", "VP", "President", "Chief", "Head of")
EXECUTIVES = {"any": [{"field": "job_title", "op": "contains", "value": t} for t in EXECUTIVE_TITLES]}
HOT = {"any": [{"field": "stage", "op": "in", "value": ["hot", "mql"]}]}
SEMINAR_LEAD_DAYS = 28  # the seminar date a new install starts with (the marketer sets the real one)


def words(inst: Installation) -> Words:
    return (lambda ja, en: ja) if inst.language == "ja" else (lambda ja, en: en)


def _hours(w: Words) -> str:
    return w("平日 9〜18時を待つ", "Wait for weekday working hours")


def document_followup(inst: Installation) -> None:
    """資料請求フォロー: thanks + document, day 3 case study, day 7 problem article, day 14 seminar invitation,
    day 21 consultation offer; the consultation form ends the walk (goal)."""
    w = words(inst)
    request = inst.form(w("資料請求フォーム", "Document request form"), w("資料請求", "Request the guide"),
                        w("フォームにご入力いただくと、資料のダウンロードリンクをメールでお送りします。",
                          "Fill in the form and we will email you the download link."),
                        w("資料を請求する", "Send me the guide"),
                        w("ご請求ありがとうございます。資料のご案内をメールでお送りしました。",
                          "Thank you. The download link is on its way to your inbox."),
                        w("資料請求", "Document request"))
    consult = inst.form(w("個別相談フォーム", "Consultation request form"), w("個別相談のお申し込み", "Book a consultation"),
                        w("30分のオンライン相談です。担当者より日程のご連絡を差し上げます。",
                          "A 30-minute online session. We will get back to you with times."),
                        w("申し込む", "Request a session"),
                        w("お申し込みありがとうございます。担当者よりご連絡いたします。",
                          "Thank you. We will be in touch shortly."),
                        w("個別相談", "Consultation request"))
    prefix = w("資料請求フォロー", "Document follow-up")
    thanks = inst.template("whitepaper", f"{prefix}｜{w('1 お礼と資料送付', '1 Thanks and the guide')}")
    case = inst.template("case_study", f"{prefix}｜{w('2 導入事例（3日後）', '2 Customer story (day 3)')}")
    article = inst.template("problem_article", f"{prefix}｜{w('3 課題解説（7日後）', '3 Problem article (day 7)')}")
    invite = inst.template("seminar_invite", f"{prefix}｜{w('4 セミナー招待（14日後）', '4 Webinar invitation (day 14)')}")
    offer = inst.template("consultation", f"{prefix}｜{w('5 個別相談のご案内（21日後）', '5 Consultation offer (day 21)')}")
    flow = (Flow()
            .send(thanks, w("お礼と資料送付", "Thanks and the guide"))
            .wait_days(3, w("3日待つ", "Wait 3 days"), _hours(w))
            .send(case, w("導入事例", "Customer story"))
            .wait_days(4, w("4日待つ（7日目）", "Wait 4 days (day 7)"), _hours(w))
            .send(article, w("課題解説の記事", "Problem article"))
            .wait_days(7, w("7日待つ（14日目）", "Wait 7 days (day 14)"), _hours(w))
            .send(invite, w("セミナー招待", "Webinar invitation"))
            .wait_days(7, w("7日待つ（21日目）", "Wait 7 days (day 21)"), _hours(w))
            .send(offer, w("個別相談のご案内", "Consultation offer"))
            .end())
    inst.journey(prefix, w("資料請求の直後から3週間、事例・記事・セミナーで検討を後押しし、個別相談につなげます。"
                           "個別相談フォームの送信で終了します。",
                           "Three weeks after a document request: a customer story, an article and a webinar, "
                           "then a consultation offer. Ends when the consultation form is sent."),
                 flow, {"entry": [{"kind": "form", "form_id": request}], "goal": {"kind": "form", "form_id": consult},
                        "exit": {"stages": ["sql", "customer"]}})


def expo_followup(inst: Installation) -> None:
    """展示会フォロー: contacts imported with the show as their source; day 1 thanks for visiting, day 4 case
    study, day 10 seminar invitation, day 20 survey / consultation; hot leads go to inside sales."""
    w = words(inst)
    source = w("展示会来場者", "Trade show visitors") + inst.suffix
    visitors = inst.segment(w("展示会来場者（ソース）", "Trade show visitors (source)"),
                            {"all": [{"field": "source", "op": "eq", "value": source}]})
    handover = inst.handover(w("展示会ホットリード → インサイドセールス", "Trade show hot lead → inside sales"))
    prefix = w("展示会フォロー", "Trade show follow-up")
    thanks = inst.template("expo_thanks", f"{prefix}｜{w('1 ご来場御礼（翌日）', '1 Thanks for visiting (day 1)')}")
    case = inst.template("case_study", f"{prefix}｜{w('2 導入事例（4日目）', '2 Customer story (day 4)')}")
    invite = inst.template("seminar_invite", f"{prefix}｜{w('3 セミナー招待（10日目）', '3 Webinar invitation (day 10)')}")
    survey = inst.template("survey", f"{prefix}｜{w('4 アンケート・ご相談（20日目）', '4 Survey and consultation (day 20)')}")
    flow = Flow()
    flow.wait_days(1, w("翌日まで待つ", "Wait until the next day"), _hours(w))
    flow.send(thanks, w("ご来場御礼", "Thanks for visiting"))
    flow.wait_days(3, w("3日待つ（4日目）", "Wait 3 days (day 4)"), _hours(w))
    flow.send(case, w("導入事例", "Customer story"))
    flow.wait_days(6, w("6日待つ（10日目）", "Wait 6 days (day 10)"), _hours(w))
    hot_label = w("ホット／MQL", "Hot or MQL")
    first = flow.fork({"type": "branch", "name": w("見込み度は？", "How warm?"),
                       "branches": [{"key": "hot", "label": hot_label, "condition": {"rules": HOT}}]})
    flow.follow((first, "else")).send(invite, w("セミナー招待", "Webinar invitation"))
    flow.wait_days(10, w("10日待つ（20日目）", "Wait 10 days (day 20)"), _hours(w))
    second = flow.fork({"type": "branch", "name": w("見込み度は？", "How warm?"),
                        "branches": [{"key": "hot", "label": hot_label, "condition": {"rules": HOT}}]})
    flow.follow((second, "else")).send(survey, w("アンケート・ご相談", "Survey and consultation")).end()
    flow.follow((first, "hot"), (second, "hot")).then(
        {"type": "action", "action": {"kind": "notify_sales", "trigger_id": handover},
         "name": w("インサイドセールスへ引き渡し", "Hand over to inside sales")}).end()
    inst.journey(prefix, w(f"名刺・来場者リストをソース「{source}」で取り込むと始まります。翌日のお礼から20日間フォローし、"
                           "見込み度の高い方はインサイドセールスへ引き渡します。",
                           f"Starts when badge scans or business cards are imported with the source “{source}”. "
                           "Twenty days of follow-up from a thank-you the next day; hot leads go to inside sales."),
                 flow, {"entry": [{"kind": "segment", "segment_id": visitors}], "exit": {"stages": ["sql", "customer"]}})


def seminar(inst: Installation) -> None:
    """セミナー/ウェビナー: invitation (a draft broadcast), registration form, reminder the day before,
    attended -> thanks + archive + survey, no-show -> the recording."""
    w = words(inst)
    registration = inst.form(w("セミナー申込フォーム", "Webinar registration form"), w("セミナーお申し込み", "Register"),
                             w("お申し込みいただいた方に、前日に参加URLをお送りします。",
                               "We will email you the link to join the day before."),
                             w("申し込む", "Register"),
                             w("お申し込みありがとうございます。前日に参加URLをお送りします。",
                               "You're registered. We'll send the link the day before."),
                             w("セミナー申込", "Webinar registration"))
    prefix = w("セミナー", "Webinar")
    invite = inst.template("seminar_invite", f"{prefix}｜{w('1 招待', '1 Invitation')}")
    reminder = inst.template("seminar_reminder", f"{prefix}｜{w('2 前日リマインド', '2 Reminder (day before)')}")
    thanks = inst.template("seminar_thanks", f"{prefix}｜{w('3 参加御礼・アーカイブ・アンケート', '3 Thanks, recording, survey')}")
    noshow = inst.template("seminar_noshow", f"{prefix}｜{w('4 欠席者へアーカイブ', '4 Recording for no-shows')}")
    audience = inst.segment(w("セミナー招待対象（180日以内に開封）", "Webinar invitees (opened in 180 days)"),
                            {"all": [{"engagement": "opened", "within_days": 180}]})
    inst.broadcast(w("セミナー招待", "Webinar invitation"), invite, audience)
    seminar_day = (now_utc() + timedelta(days=SEMINAR_LEAD_DAYS)).date().isoformat()
    flow = Flow()
    flow.then({"type": "action", "action": {"kind": "set_attribute", "key": "seminar_date", "value": seminar_day},
               "name": w("開催日を記録（日付を変更してください）", "Record the date (change it to yours)")})
    flow.then({"type": "wait", "wait": {"date": {"attribute": "seminar_date", "offset_days": -1, "hour": 9}},
               "name": w("前日 9時まで待つ", "Wait until 9:00 the day before")})
    flow.send(reminder, w("前日リマインド", "Reminder"))
    attended = flow.fork({"type": "wait_for", "until": {"kind": "event", "name": "webinar_attended"},
                          "timeout": {"minutes": 2 * DAY}, "name": w("参加を待つ（翌日まで）", "Wait for attendance (until the next day)")})
    flow.follow((attended, "happened"))
    flow.then({"type": "wait", "wait": {"date": {"attribute": "seminar_date", "offset_days": 1, "hour": 10}},
               "name": w("翌日 10時まで待つ", "Wait until 10:00 the next day")})
    flow.send(thanks, w("参加御礼・アーカイブ・アンケート", "Thanks, recording and survey")).end()
    flow.follow((attended, "timeout")).send(noshow, w("欠席者へアーカイブ", "Recording for no-shows")).end()
    inst.journey(prefix, w("申込フォームから始まり、前日にリマインドを送ります。参加（webinar_attended）された方には"
                           "御礼とアーカイブ・アンケートを、欠席の方には録画をお送りします。",
                           "Starts with the registration form and sends a reminder the day before. Attendees "
                           "(webinar_attended) get thanks, the recording and a survey; no-shows get the recording."),
                 flow, {"entry": [{"kind": "form", "form_id": registration}]})


def winback(inst: Installation) -> None:
    """休眠掘り起こし: no human open in 90 days -> a re-engagement mail; no reaction in 30 days -> suppressed
    from marketing mail (the suppression list, reason "sunset": no broadcast, sequence or journey reaches them,
    whatever segment it goes to; reversible on the suppression page) and on the sunset list (for reporting:
    how many the policy took out, and the dormant segment leaves them out)."""
    w = words(inst)
    sunset = inst.contact_list(w("配信停止（休眠）", "Sunset: no marketing mail"),
                               w("休眠掘り起こしに反応がなかった連絡先。マーケティングメールの配信対象から外します。",
                                 "Contacts who did not react to the re-engagement mail: left out of marketing mail."))
    dormant = inst.segment(w("休眠：90日間開封なし", "Dormant: no opens in 90 days"),
                           {"all": [{"engagement": "not_opened", "within_days": 90},
                                    {"list_id": sunset, "member": False}]})
    prefix = w("休眠掘り起こし", "Win-back")
    mail = inst.template("reengage", f"{prefix}｜{w('配信継続の確認', 'Still interested?')}")
    flow = Flow()
    flow.then({"type": "wait", "wait": {"window": {"days": "12345", "start_hour": 9, "end_hour": 18}},
               "name": _hours(w)})
    flow.send(mail, w("配信継続の確認", "Still interested?"))
    sent = flow.nodes[-1]["id"]
    opened = flow.fork({"type": "wait_for", "until": {"kind": "open", "node": sent}, "timeout": {"minutes": 30 * DAY},
                        "name": w("開封を待つ（30日）", "Wait for an open (30 days)")})
    flow.follow((opened, "happened")).end()
    clicked = flow.follow((opened, "timeout")).fork(
        {"type": "branch", "name": w("クリックした？", "Clicked?"),
         "branches": [{"key": "clicked", "label": w("クリックあり", "Clicked"),
                       "condition": {"previous_mail": "clicked"}}]})
    flow.follow((clicked, "clicked")).end()
    flow.follow((clicked, "else")).then(
        {"type": "action", "action": {"kind": "add_to_list", "list_id": sunset},
         "name": w("配信停止リストへ", "Add to the sunset list")}).then(
        {"type": "action", "action": {"kind": "set_attribute", "key": "marketing_sunset", "value": "yes"},
         "name": w("休眠として記録", "Mark as sunset")}).then(
        {"type": "action", "action": {"kind": "suppress", "reason": "sunset"},
         "name": w("配信停止にする", "Suppress from marketing mail")}).end()
    inst.journey(prefix, w("90日間開封のない方に配信継続の確認を送り、30日以内に反応がなければ配信停止にします"
                           "（サンセットポリシー）。配信停止リストに記録され、どの一斉配信・シナリオメールも届かなく"
                           "なります。配信停止の一覧からいつでも解除できます。",
                           "Contacts with no opens in 90 days get a re-engagement mail; no reaction in 30 days "
                           "suppresses them from all marketing mail (a sunset policy): they are recorded on the sunset "
                           "list and no broadcast, sequence or journey reaches them. You can lift it on the "
                           "suppression list."),
                 flow, {"entry": [{"kind": "segment", "segment_id": dormant}]})


def by_role(inst: Installation) -> None:
    """役職別: executives and practitioners get different content (a branch on the job title)."""
    w = words(inst)
    entry = inst.contact_list(w("役職別コンテンツ配信", "Content by role"),
                              w("このリストに追加した連絡先に、役職に合わせた内容をお送りします。",
                                "Contacts added to this list get content that fits their role."))
    inst.segment(w("役職：部長以上", "Role: heads of department and above"), EXECUTIVES)
    prefix = w("役職別コンテンツ", "Content by role")
    executive = inst.template("exec_brief", f"{prefix}｜{w('経営層向け', 'Executives')}")
    practitioner = inst.template("practitioner_guide", f"{prefix}｜{w('実務担当者向け', 'Practitioners')}")
    flow = Flow()
    role = flow.fork({"type": "branch", "name": w("役職は？", "Which role?"),
                      "branches": [{"key": "executive", "label": w("部長以上", "Head of department or above"),
                                    "condition": {"rules": EXECUTIVES}}]})
    flow.follow((role, "executive")).then({"type": "wait", "wait": {"window": {"days": "12345", "start_hour": 9,
                                                                               "end_hour": 18}}, "name": _hours(w)})
    flow.send(executive, w("経営層向けの内容", "Executive briefing")).end()
    flow.follow((role, "else")).then({"type": "wait", "wait": {"window": {"days": "12345", "start_hour": 9,
                                                                          "end_hour": 18}}, "name": _hours(w)})
    flow.send(practitioner, w("実務担当者向けの内容", "Practitioner checklist")).end()
    inst.journey(prefix, w("役職に「部長」「取締役」などを含む方には経営指標の内容を、それ以外の方には実務のチェックリストを"
                           "お送りします。リストに追加すると始まります。",
                           "Job titles with Director, VP, Chief and the like get the executive briefing, everyone else "
                           "the practitioner checklist. Starts when contacts are added to the list."),
                 flow, {"entry": [{"kind": "list", "list_id": entry}]})


def mql_handover(inst: Installation) -> None:
    """MQL -> inside sales: a scoring preset (heads of department +10, document download +10, webinar attended
    +20, pricing page +15, the consultation form makes an MQL) and the hand-over mail to sales."""
    w = words(inst)
    consult = inst.form(w("個別相談フォーム", "Consultation request form"), w("個別相談のお申し込み", "Book a consultation"),
                        w("30分のオンライン相談です。担当者より日程のご連絡を差し上げます。",
                          "A 30-minute online session. We will get back to you with times."),
                        w("申し込む", "Request a session"),
                        w("お申し込みありがとうございます。担当者よりご連絡いたします。",
                          "Thank you. We will be in touch shortly."),
                        w("個別相談", "Consultation request"))
    inst.rule(name=w("資料ダウンロード", "Document download"), kind="link_click", points=10,
              link_url="https://example.com/downloads/*")
    inst.rule(name=w("ウェビナー参加", "Webinar attended"), kind="webinar_attended", points=20)
    # a visit seen by the website snippet (a path pattern: any host of the site, any query)
    inst.rule(name=w("料金ページ閲覧", "Pricing page viewed"), kind="page_visit", points=15, daily_cap=1,
              link_url="/pricing*")
    inst.rule(name=w("個別相談フォーム送信 → MQL", "Consultation form → MQL"), kind="form_submitted", points=0,
              sets_mql=True, property_key="form", property_value=inst.form_name(consult))
    executives = inst.segment(w("役職：部長以上", "Role: heads of department and above"), EXECUTIVES)
    inst.handover(w("MQL → インサイドセールスへ引き渡し", "MQL → hand over to inside sales"))
    flow = Flow().then({"type": "action", "action": {"kind": "add_score", "points": 10},
                        "name": w("役職スコア +10", "Job title +10")}).end()
    inst.journey(w("役職スコア（部長以上 +10）", "Job title score (heads of department +10)"),
                 w("役職に「部長」「取締役」などを含む連絡先に、一度だけ10点を加えます。",
                   "Adds 10 points once to contacts whose job title is head of department or above."),
                 flow, {"entry": [{"kind": "segment", "segment_id": executives}]})
