"""Texts, embeds and buttons of the simulated Midjourney's messages.

Shapes follow what real Midjourney posts: ``**<prompt>** - <action> <@user> (<state>)``
contents, red embeds for errors, and the U/V action rows under a grid.
"""

from __future__ import annotations

from typing import Any

RED = 0xFF0000
YELLOW = 0xFFFF00
BUTTON = 2
ACTION_ROW = 1
SECONDARY = 2
LINK = 5

MODE_LABELS = {"fast": "fast", "relax": "relaxed", "turbo": "turbo"}


def job_content(echo: str, user_id: str, state: str, *, action: str = "") -> str:
    """Return ``**<echo>** - <action> <@user> (<state>)``; ``action`` ends with "by" if set."""
    lead = f"{action} " if action else ""
    return f"**{echo}** - {lead}<@{user_id}> ({state})"


def progress_content(echo: str, user_id: str, percent: int, mode: str, *, action: str = "") -> str:
    """Return the content of a progress edit: ``… (NN%) (fast)``."""
    return job_content(echo, user_id, f"{percent}%) ({MODE_LABELS[mode]}", action=action)


def final_content(echo: str, user_id: str, job_uuid: str, mode: str, *, action: str = "") -> str:
    """Return the content of a finished grid with the website link before the mode."""
    link = f"[(Open on website for full quality)](<https://midjourney.com/jobs/{job_uuid}>)"
    lead = f"{action} " if action else ""
    return f"**{echo}** - {lead}<@{user_id}> {link} ({MODE_LABELS[mode]})"


def single_content(echo: str, user_id: str, index: int) -> str:
    """Return the content of an "Image #n" reply; it carries no mode."""
    return f"**{echo}** - Image #{index} <@{user_id}>"


def button(custom_id: str, *, label: str = "", emoji: str = "") -> dict[str, Any]:
    """Return a secondary button component."""
    component: dict[str, Any] = {"type": BUTTON, "style": SECONDARY, "custom_id": custom_id}
    if label:
        component["label"] = label
    if emoji:
        component["emoji"] = {"name": emoji}
    return component


def link_button(url: str, label: str) -> dict[str, Any]:
    """Return a link button component."""
    return {"type": BUTTON, "style": LINK, "url": url, "label": label}


def row(*components: dict[str, Any]) -> dict[str, Any]:
    """Return an action row."""
    return {"type": ACTION_ROW, "components": list(components)}


def grid_components(job_uuid: str) -> list[dict[str, Any]]:
    """Return the two rows under a grid: U1–U4 with reroll, then V1–V4."""
    upscales = [button(f"MJ::JOB::upsample::{i}::{job_uuid}", label=f"U{i}") for i in range(1, 5)]
    reroll = button(f"MJ::JOB::reroll::0::{job_uuid}::SOLO", emoji="🔄")
    variations = [
        button(f"MJ::JOB::variation::{i}::{job_uuid}", label=f"V{i}") for i in range(1, 5)
    ]
    return [row(*upscales, reroll), row(*variations)]


def single_components(job_uuid: str, index: int) -> list[dict[str, Any]]:
    """Return the V7 buttons under an "Image #n" reply."""
    solo = f"1::{job_uuid}::SOLO"
    return [
        row(
            button(f"MJ::JOB::upsample_v7_2x_subtle::{solo}", label="Upscale (Subtle)"),
            button(f"MJ::JOB::upsample_v7_2x_creative::{solo}", label="Upscale (Creative)"),
        ),
        row(
            button(f"MJ::JOB::low_variation::{solo}", label="Vary (Subtle)"),
            button(f"MJ::JOB::high_variation::{solo}", label="Vary (Strong)"),
        ),
        row(link_button(f"https://www.midjourney.com/jobs/{job_uuid}?index={index - 1}", "Web")),
    ]


def embed(title: str, description: str, *, footer: str = "", color: int = RED) -> dict[str, Any]:
    """Return an embed with an optional footer."""
    data: dict[str, Any] = {
        "type": "rich",
        "title": title,
        "description": description,
        "color": color,
    }
    if footer:
        data["footer"] = {"text": footer}
    return data


def queued_embed(echo: str) -> dict[str, Any]:
    """Return the "Job queued" notice; the job starts when a slot frees."""
    description = (
        "You have reached the maximum allowed number of concurrent jobs. "
        "Don't worry, this job will start as soon as another one finishes!"
    )
    return embed("Job queued", description, footer=f"/imagine {echo}", color=YELLOW)


def queue_full_embed(echo: str) -> dict[str, Any]:
    """Return the "Queue full" error; the job is dropped."""
    description = (
        "Your job queue is full. Please wait for a job to finish first, then resubmit this one."
    )
    return embed("Queue full", description, footer=f"/imagine {echo}")


def invalid_parameter_embed(problem: str, raw_prompt: str) -> dict[str, Any]:
    """Return the "Invalid parameter" error naming the bad parameter."""
    return embed("Invalid parameter", problem, footer=f"/imagine {raw_prompt}")


def banned_prompt_embed(word: str, raw_prompt: str) -> dict[str, Any]:
    """Return the "Banned prompt detected" error naming the banned word."""
    description = (
        f"The word `{word}` is banned. Circumventing this filter to violate our rules "
        "may result in your access being revoked."
    )
    return embed("Banned prompt detected", description, footer=f"/imagine {raw_prompt}")


def credits_exhausted_embed(echo: str) -> dict[str, Any]:
    """Return the "Credits exhausted" error for a fast job without fast time left."""
    description = (
        "You have run out of fast GPU time. Switch to relax mode with `/relax` "
        "or buy more time with `/subscribe`."
    )
    return embed("Credits exhausted", description, footer=f"/imagine {echo}")


def could_not_complete_embed(echo: str) -> dict[str, Any]:
    """Return the failure notice that replies to a job's progress message."""
    description = "Sorry! Could not complete the job. Please try again; your GPU time was not used."
    return embed("Could not complete", description, footer=f"/imagine {echo}", color=YELLOW)


def output_filter_embed(echo: str) -> dict[str, Any]:
    """Return the notice that a finished render was withheld by Midjourney's output filters."""
    description = (
        "Your image was blocked by our output filters, because the result may break our "
        "community guidelines. Your GPU time was not used."
    )
    return embed("Request cancelled due to output filters", description, footer=f"/imagine {echo}")


def invalid_link_embed(url: str, raw_prompt: str) -> dict[str, Any]:
    """Return the "Invalid link" error for an image URL Midjourney could not read."""
    description = (
        f"The link `{url}` could not be read. Use a direct link to a public image "
        "(.png, .jpg, .webp or .gif)."
    )
    return embed("Invalid link", description, footer=f"/imagine {raw_prompt}")


def unsupported_parameter_description(name: str) -> str:
    """Return the "Invalid parameter" description for a parameter the model version dropped."""
    return f"`--{name}` is not compatible with the model version of your settings."


# Plain content, without an embed, that Midjourney sends when it cannot take a command.
FAILED_TO_PROCESS = "Failed to process your command 😭"
