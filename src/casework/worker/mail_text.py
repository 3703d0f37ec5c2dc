"""The words of notification mails, in the languages of the people who get them.

A person's `locale` (`fr`, `fr-CA`, `it_IT`, `ja`...) picks the language by its first
part; any other falls back to English. Each sentence is whole, with named places for
what varies, because word order differs between languages (Japanese puts the task
before the verb). Names, titles and notes are the users' own text: they go into these
places unchanged, and the HTML part escapes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from casework.services.notifications import KINDS


@dataclass(frozen=True, slots=True)
class MailWords:
    language: str
    greeting: str  # {name}
    quoted: str  # {task}: a task's name in the language's quotation marks
    a_task: str
    someone: str
    assigned: str  # {actor} {task}
    deadline_passed: str  # {task}
    mentioned: str  # {actor}
    case_completed: str
    case_terminated: str
    case_reopened: str  # {actor}
    case_assigned: str  # {actor}
    added_to_case: str  # {actor}
    on_case: str  # {title} {case_id} {when}
    subject_assigned: str  # {task} {title}
    subject_deadline_passed: str  # {task} {title}
    subject_mentioned: str  # {actor} {title}
    subject_case_completed: str  # {title}
    subject_case_terminated: str  # {title}
    subject_case_reopened: str  # {title}
    subject_case_assigned: str  # {title}
    subject_added_to_case: str  # {title}
    subject_many: str  # {count} {cases}: several updates on one case
    subject_many_cases: str  # {count} {cases}: on several cases
    more: str  # {count}: what a long mail leaves out
    footer: str  # {username}


ENGLISH = MailWords(
    language="en",
    greeting="Hello {name},",
    quoted="“{task}”",
    a_task="a task",
    someone="someone",
    assigned="{actor} assigned you {task}",
    deadline_passed="The deadline of {task} has passed",
    mentioned="{actor} mentioned you in a note",
    case_completed="The case has been completed",
    case_terminated="The case has been terminated",
    case_reopened="{actor} reopened the case",
    case_assigned="{actor} made you the owner of the case",
    added_to_case="{actor} added you to the case",
    on_case="on {title} ({case_id}), {when}",
    subject_assigned="Assigned to you: {task} ({title})",
    subject_deadline_passed="Deadline passed: {task} ({title})",
    subject_mentioned="{actor} mentioned you on {title}",
    subject_case_completed="Completed: {title}",
    subject_case_terminated="Terminated: {title}",
    subject_case_reopened="Reopened: {title}",
    subject_case_assigned="Your case now: {title}",
    subject_added_to_case="Added to: {title}",
    subject_many="{count} updates on {cases} case",
    subject_many_cases="{count} updates on {cases} cases",
    more="… and {count} more: see your notifications in Casework.",
    footer=(
        "You get these mails because e-mail notifications are on for your Casework "
        'account ({username}). To turn them off, set "email_notifications" to false in '
        "your profile (PATCH /me)."
    ),
)

_WORDS = {
    "en": ENGLISH,
    "fr": MailWords(
        language="fr",
        greeting="Bonjour {name},",
        quoted="« {task} »",
        a_task="une tâche",
        someone="quelqu'un",
        assigned="{actor} vous a confié la tâche {task}",
        deadline_passed="L'échéance de la tâche {task} est dépassée",
        mentioned="{actor} vous a mentionné dans une note",
        case_completed="Le dossier est terminé",
        case_terminated="Le dossier a été arrêté",
        case_reopened="{actor} a rouvert le dossier",
        case_assigned="{actor} vous a confié le dossier",
        added_to_case="{actor} vous a ajouté au dossier",
        on_case="dossier {title} ({case_id}), {when}",
        subject_assigned="Tâche confiée : {task} ({title})",
        subject_deadline_passed="Échéance dépassée : {task} ({title})",
        subject_mentioned="{actor} vous a mentionné : {title}",
        subject_case_completed="Dossier terminé : {title}",
        subject_case_terminated="Dossier arrêté : {title}",
        subject_case_reopened="Dossier rouvert : {title}",
        subject_case_assigned="Dossier confié : {title}",
        subject_added_to_case="Ajouté au dossier : {title}",
        subject_many="{count} nouveautés sur {cases} dossier",
        subject_many_cases="{count} nouveautés sur {cases} dossiers",
        more="… et {count} de plus : voyez vos notifications dans Casework.",
        footer=(
            "Vous recevez ces messages parce que les notifications par e-mail sont "
            "activées pour votre compte Casework ({username}). Pour les désactiver, "
            "mettez « email_notifications » à false dans votre profil (PATCH /me)."
        ),
    ),
    "it": MailWords(
        language="it",
        greeting="Buongiorno {name},",
        quoted="«{task}»",
        a_task="un'attività",
        someone="qualcuno",
        assigned="{actor} ti ha assegnato l'attività {task}",
        deadline_passed="La scadenza dell'attività {task} è passata",
        mentioned="{actor} ti ha menzionato in una nota",
        case_completed="La pratica è stata completata",
        case_terminated="La pratica è stata interrotta",
        case_reopened="{actor} ha riaperto la pratica",
        case_assigned="{actor} ti ha affidato la pratica",
        added_to_case="{actor} ti ha aggiunto alla pratica",
        on_case="pratica {title} ({case_id}), {when}",
        subject_assigned="Assegnata a te: {task} ({title})",
        subject_deadline_passed="Scadenza superata: {task} ({title})",
        subject_mentioned="{actor} ti ha menzionato: {title}",
        subject_case_completed="Pratica completata: {title}",
        subject_case_terminated="Pratica interrotta: {title}",
        subject_case_reopened="Pratica riaperta: {title}",
        subject_case_assigned="Pratica affidata a te: {title}",
        subject_added_to_case="Aggiunto alla pratica: {title}",
        subject_many="{count} novità su {cases} pratica",
        subject_many_cases="{count} novità su {cases} pratiche",
        more="… e altre {count}: vedi le tue notifiche in Casework.",
        footer=(
            "Ricevi questi messaggi perché le notifiche via e-mail sono attive per il tuo "
            "account Casework ({username}). Per disattivarle, imposta «email_notifications» "
            "a false nel tuo profilo (PATCH /me)."
        ),
    ),
    "ja": MailWords(
        language="ja",
        greeting="{name} 様",
        quoted="「{task}」",
        a_task="タスク",
        someone="どなたか",
        assigned="{actor} さんがタスク{task}をあなたに割り当てました",
        deadline_passed="タスク{task}の期限が過ぎました",
        mentioned="{actor} さんがメモであなたに言及しました",
        case_completed="案件が完了しました",
        case_terminated="案件が中止されました",
        case_reopened="{actor} さんが案件を再開しました",
        case_assigned="{actor} さんがあなたを案件の担当者にしました",
        added_to_case="{actor} さんがあなたを案件に追加しました",
        on_case="案件：{title}（{case_id}）、{when}",
        subject_assigned="割り当て：{task}（{title}）",
        subject_deadline_passed="期限切れ：{task}（{title}）",
        subject_mentioned="{actor} さんがあなたに言及しました：{title}",
        subject_case_completed="完了：{title}",
        subject_case_terminated="中止：{title}",
        subject_case_reopened="再開：{title}",
        subject_case_assigned="案件の担当：{title}",
        subject_added_to_case="案件に追加：{title}",
        subject_many="{cases} 件の案件に {count} 件の更新",
        subject_many_cases="{cases} 件の案件に {count} 件の更新",
        more="…ほか {count} 件。Casework の通知一覧をご覧ください。",
        footer=(
            "Casework アカウント（{username}）でメール通知が有効になっているため、"
            "このメールをお送りしています。停止するには、プロフィールの"
            "「email_notifications」を false に設定してください（PATCH /me）。"
        ),
    ),
}

LANGUAGES = tuple(_WORDS)


def line(words: MailWords, kind: str, *, actor: str, task: str) -> str:
    """What happened, for a notification of `kind`: the field of MailWords by that name
    (every kind of `notifications.KINDS` has one: a test holds them together); a kind
    it does not know (written by a newer version) is told by its name."""
    template = getattr(words, kind, None) if kind in KINDS else None
    return kind if template is None else str(template).format(actor=actor, task=task)


def subject(words: MailWords, kind: str, *, actor: str, task: str, title: str) -> str:
    """A one-notification mail's subject."""
    template = getattr(words, f"subject_{kind}", None) if kind in KINDS else None
    if template is None:
        return title
    return str(template).format(actor=actor, task=task, title=title)


def words_for(locale: str) -> MailWords:
    """The words for a person's locale: its language's, else English."""
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    return _WORDS.get(language, ENGLISH)
