"""The gallery's English mails: short B2B marketing mail in a plain, personal voice (first name, one clear
action, a signature). Details a marketer must fill in are in [brackets]; links point at example.com until
they are replaced. The same keys as the Japanese mails (campaigns.delivery.gallery.ja).
"""

from __future__ import annotations

from campaigns.delivery.gallery.parts import (
    EN_COMPANY,
    EN_FIRST_NAME,
    Starter,
    button,
    card,
    columns,
    divider,
    en_closing,
    en_opening,
    heading,
    quote,
    text,
)

SITE = "https://example.com"

STARTERS = [
    Starter(
        "newsletter", "en", "nurture", "Monthly newsletter",
        "Once a month: new articles, a customer story and the next event in one mail.",
        "This month: three ways to turn more leads into meetings",
        "New articles, a customer story and our next webinar",
        [
            heading("This month's picks"),
            *en_opening("Here is what we published this month for B2B marketing teams. "
                        "Each piece takes less than ten minutes to read."),
            card("Why most leads never reach sales",
                 "Three reasons leads stall after the first download, and how scoring and clear hand-over rules fix them.",
                 "Read the article", f"{SITE}/blog/why-leads-stall"),
            card("Customer story: how a manufacturer doubled its trade show pipeline",
                 "From business cards to a thank-you mail the next morning and a call from inside sales.",
                 "Read the story", f"{SITE}/cases/manufacturer-a"),
            card("Webinar on [date]: rethinking your email metrics",
                 "Which numbers predict pipeline better than open rates, in 45 minutes with live Q&A.",
                 "See the agenda", f"{SITE}/seminars/next"),
            *en_closing("Have a topic you would like us to cover? Reply and let us know."),
        ],
    ),
    Starter(
        "whitepaper", "en", "nurture", "Whitepaper delivery",
        "Sent right after a download form: the link to the guide and what is inside.",
        "Your copy of the Lead Nurturing Playbook",
        "Here is the download link for the guide you requested",
        [
            heading("Your guide is ready"),
            *en_opening("Thanks for requesting the Lead Nurturing Playbook. You can download it with the button below."),
            button("Download the guide", f"{SITE}/downloads/nurturing-guide.pdf"),
            text("<p><strong>Inside the guide</strong></p>"
                 "<ul><li>How to score leads by interest and fit</li>"
                 "<li>Example email journeys from first download to first meeting</li>"
                 "<li>When to hand a lead to sales, and how to agree on the rules</li></ul>"),
            *en_closing("Questions about the guide, or about your own setup? Just reply to this email."),
        ],
    ),
    Starter(
        "seminar_invite", "en", "event", "Webinar invitation",
        "Invite contacts to an online session; change the date, topic and speaker.",
        "Join us on [date]: connecting marketing and sales around every lead",
        "A 45-minute live webinar with practical examples and Q&A",
        [
            heading("You're invited: live webinar"),
            *en_opening("We are hosting a live session for B2B marketing and sales teams, and we would love you "
                        "to join."),
            text("<p><strong>Connecting marketing and sales around every lead</strong></p>"
                 "<ul><li>When: [date], [time and time zone]</li><li>Where: online (Zoom)</li>"
                 "<li>Speaker: [name], [title] at [company]</li></ul>"
                 "<p>We will walk through real email journeys and the numbers behind them, from first "
                 "download to a booked meeting.</p>"),
            button("Save my seat", f"{SITE}/seminars/next"),
            text("<p>Can't make it live? Register anyway and we will send you the recording.</p>"),
            *en_closing(f"We hope to see you and the {EN_COMPANY} team there."),
        ],
    ),
    Starter(
        "seminar_reminder", "en", "event", "Webinar reminder (day before)",
        "The day before the session: the join link and what to expect.",
        "Tomorrow: your webinar link inside",
        "We start tomorrow at [time]. Here is how to join",
        [
            heading("See you tomorrow"),
            *en_opening("Thanks for registering for \"Connecting marketing and sales around every lead\". "
                        "Here is everything you need for tomorrow."),
            text("<ul><li>When: [date], [time and time zone] (the room opens 10 minutes early)</li>"
                 "<li>Where: online (Zoom)</li><li>Bring: your questions, we keep 15 minutes for them</li></ul>"),
            button("Join the webinar", f"{SITE}/seminars/next/join"),
            text("<p>Something came up? No need to let us know: we will send you the recording afterwards.</p>"),
            *en_closing(),
        ],
    ),
    Starter(
        "seminar_thanks", "en", "event", "Thank you, with recording and survey",
        "After the session: thanks, the recording and slides, and a one-minute survey.",
        "Thanks for joining: recording and slides inside",
        "The full recording, the slides and a one-minute survey",
        [
            heading("Thanks for joining us"),
            *en_opening("Thank you for attending \"Connecting marketing and sales around every lead\". "
                        "Here are the recording and slides to share with your team."),
            columns(
                [heading("Recording", 3), text("<p>The full session, about 45 minutes.</p>"),
                 button("Watch the recording", f"{SITE}/seminars/next/archive")],
                [heading("Slides", 3), text("<p>Every slide from the talk as a PDF.</p>"),
                 button("Download the slides", f"{SITE}/downloads/seminar-slides.pdf")],
            ),
            divider(),
            text("<p><strong>One quick favour</strong><br>Would you answer three questions about the session? "
                 "It takes a minute, and you can ask for a one-to-one follow-up there too.</p>"),
            button("Take the survey", f"{SITE}/seminars/next/survey"),
            *en_closing(),
        ],
    ),
    Starter(
        "case_study", "en", "nurture", "Customer story",
        "A customer like them, in their own words: the problem, what changed, the result.",
        "How a manufacturer doubled the pipeline from its trade shows",
        "The problem, what they changed and the result, in a three-minute read",
        [
            heading("A customer story"),
            *en_opening(f"Teams like {EN_COMPANY} often tell us their trade show leads go cold before anyone "
                        "calls. Here is how one manufacturer fixed that."),
            quote("After every show we had a pile of business cards and no idea who to call first. Now inside sales "
                  "calls the most interested people the same week.", "Head of Marketing", "Manufacturer A"),
            columns(
                [heading("The problem", 3), text("<p>Most trade show leads were never followed up, and went "
                                                 "stale within months.</p>")],
                [heading("The result", 3), text("<p>A thank-you mail the next morning and a clear hand-over "
                                                "doubled the meetings booked.</p>")],
            ),
            button("Read the full story", f"{SITE}/cases/manufacturer-a"),
            *en_closing("Curious what this would look like for you? Reply and we can set up a short call."),
        ],
    ),
    Starter(
        "reengage", "en", "nurture", "Re-engagement (sunset)",
        "For contacts who have not opened in months: ask whether they still want your mail.",
        f"{EN_FIRST_NAME}, do you still want to hear from us?",
        "One click keeps you on the list",
        [
            heading("Still interested?"),
            *en_opening("We noticed you haven't opened our emails in a while. We only want to send them to "
                        "people who find them useful."),
            text("<p>If you would like to keep getting our articles, customer stories and event invitations, "
                 "click the button below.</p>"),
            button("Yes, keep me on the list", f"{SITE}/subscription/keep"),
            text("<p>You can also <a href=\"{{ preferences_url }}\">change how often you hear from us</a>. "
                 "If we don't hear back, we will stop sending marketing emails in 30 days. "
                 "Emails about your account or orders are not affected.</p>"),
            *en_closing("Thanks for reading our emails so far."),
        ],
    ),
    Starter(
        "sales_intro", "en", "sales", "Sales introduction",
        "A short, personal note from a sales rep asking for a first conversation.",
        f"A quick question about lead follow-up at {EN_COMPANY}",
        "Could we find 30 minutes to compare notes?",
        [
            *en_opening("Thanks for taking a look at our guide last week. I'm {{ account.from_name }}, and I work "
                        "with B2B teams on lead follow-up."),
            text("<p>Teams your size often tell us that:</p>"
                 "<ul><li>sales can't keep up with leads from events and downloads,</li>"
                 "<li>nobody agrees on which leads to call first,</li>"
                 "<li>it's hard to tell whether email actually leads to meetings.</li></ul>"
                 "<p>If any of that sounds familiar, could we find 30 minutes to talk it through? I'll bring "
                 "a few ideas that have worked for similar teams.</p>"),
            button("Pick a time", f"{SITE}/meetings/book"),
            *en_closing("If none of the times work, reply with a couple that do and I'll send an invite."),
        ],
    ),
    Starter(
        "problem_article", "en", "nurture", "Problem article",
        "For early-stage leads: a common problem and how to solve it, as an article.",
        "Three reasons most leads never reach sales",
        "What stalls leads after the first download, and how to fix it",
        [
            heading("Why leads stall"),
            *en_opening("Many teams collect plenty of leads from events and downloads, yet only a few turn into "
                        "meetings. We looked at why."),
            text("<ol><li><strong>Follow-up comes too late.</strong> Interest peaks in the first few days.</li>"
                 "<li><strong>Everyone gets the same content.</strong> A CFO and an analyst want different things.</li>"
                 "<li><strong>No hand-over rule.</strong> Sales needs a clear signal for who to call now.</li></ol>"),
            button("Read the article (5 min)", f"{SITE}/blog/why-leads-stall"),
            *en_closing(),
        ],
    ),
    Starter(
        "consultation", "en", "sales", "Consultation offer",
        "For engaged leads: offer a 30-minute one-to-one session.",
        "A 30-minute session on your lead follow-up?",
        "One-to-one, online, with a concrete first step at the end",
        [
            heading("Let's look at your setup together"),
            *en_opening("Thanks for reading our guides and stories over the past weeks. If you are weighing up "
                        "next steps, we offer a short one-to-one session."),
            text("<ul><li>30 minutes, online</li><li>We look at how leads are followed up today</li>"
                 "<li>You leave with a concrete first step, with no obligation</li></ul>"),
            button("Book a session", f"{SITE}/consultation"),
            *en_closing("No agenda needed: bring whatever is on your mind."),
        ],
    ),
    Starter(
        "expo_thanks", "en", "event", "Thanks for visiting our booth",
        "The day after a trade show: thanks for stopping by, and the material you saw.",
        "Thanks for stopping by our booth at [show name]",
        "The brochure we showed you, and an offer to continue the conversation",
        [
            heading("Great to meet you"),
            *en_opening("Thanks for visiting our booth at [show name]. Time on the show floor is always short, "
                        "so here is the material we talked about."),
            button("See the brochure", f"{SITE}/downloads/expo-brochure.pdf"),
            text("<p>If you'd like to pick up where we left off, reply to this email and we'll find a time "
                 "that suits you.</p>"),
            *en_closing("Thanks again for coming by."),
        ],
    ),
    Starter(
        "survey", "en", "sales", "Survey and consultation",
        "Ask where they are in their research, and offer a conversation in the same step.",
        "Three quick questions about your plans",
        "Answer in a minute and we'll send material that fits",
        [
            heading("Help us send you the right things"),
            *en_opening("Thanks for reading our emails. To send you material that fits where you are, could you "
                        "answer three quick questions?"),
            text("<ul><li>Three questions, about a minute</li><li>We'll follow up with material that matches your "
                 "answers</li><li>You can ask for a one-to-one conversation in the same form</li></ul>"),
            button("Answer the questions", f"{SITE}/survey"),
            *en_closing(),
        ],
    ),
    Starter(
        "seminar_noshow", "en", "event", "Recording for those who missed it",
        "For registrants who could not attend: the recording, with a short viewing window.",
        "Sorry we missed you: the webinar recording",
        "Watch the full session whenever it suits you",
        [
            heading("Here's the recording"),
            *en_opening("Thanks for registering for \"Connecting marketing and sales around every lead\". We're "
                        "sorry you couldn't make it, so here is the full recording."),
            button("Watch the recording (45 min)", f"{SITE}/seminars/next/archive"),
            text("<p>The recording is available for two weeks. Questions about the session? Reply to this email "
                 "and the speaker will get back to you.</p>"),
            *en_closing(),
        ],
    ),
    Starter(
        "exec_brief", "en", "nurture", "Executive briefing",
        "For directors and executives: return on investment and business metrics.",
        "Three numbers that show what marketing adds to pipeline",
        "Measure contribution to pipeline, not opens and clicks",
        [
            heading("Measuring marketing by pipeline"),
            *en_opening("Leaders often ask us how to judge marketing by its contribution to pipeline and revenue, "
                        "rather than by opens or lead counts."),
            text("<ol><li><strong>Lead-to-meeting rate</strong> by source</li>"
                 "<li><strong>Days to first meeting</strong>: speed of follow-up drives results</li>"
                 "<li><strong>Cost per meeting</strong>: a sound basis for budget decisions</li></ol>"
                 "<p>Our short report shows how to calculate each one, with benchmarks from similar companies.</p>"),
            button("Read the report", f"{SITE}/reports/marketing-roi"),
            *en_closing("If it would help, one of our team can walk you through it."),
        ],
    ),
    Starter(
        "practitioner_guide", "en", "nurture", "Practitioner checklist",
        "For hands-on marketers: a practical checklist they can use the same day.",
        "A pre-send checklist you can use tomorrow",
        "Fifteen things to check before every campaign",
        [
            heading("Your pre-send checklist"),
            *en_opening("Sending campaigns every week? We put together the checks our own team runs before "
                        "anything goes out."),
            text("<ul><li>Subject line and preheader read well on a phone</li>"
                 "<li>Every personalised field has a fallback for empty values</li>"
                 "<li>Links and the unsubscribe link work</li></ul>"
                 "<p>The full checklist has twelve more.</p>"),
            button("Get the checklist", f"{SITE}/guides/send-checklist"),
            *en_closing(),
        ],
    ),
]
