"""AI: completion, document analysis, content generation, translation, chat and batches on ai_queue."""
import streamlit as st

from app.llm import prices, providers
from app.ui import ai_forms
from app.ui.access import can, read_only_note
from app.ui.navigation import via_entry_script
from app.ui.resources import redis_ok_or_banner, settings

via_entry_script()

st.session_state.setdefault("ai_jobs", {})
st.title("AI")
st.caption("Requests run on **ai_queue** (rate limit, retries with backoff honouring Retry-After). "
           "Answers are shown as plain text; tokens and cost come with each result.")
if not redis_ok_or_banner():
    st.stop()

c1, c2, c3 = st.columns([1, 1, 1])
provider = c1.selectbox("Provider", providers.PROVIDERS, key="ai_provider",
                        format_func=lambda p: {"anthropic": "Anthropic (Claude)", "openai": "OpenAI or compatible"}[p])
default = providers.default_model(settings(), provider)
choices = [default] + [m for m in prices.known_models(provider) if m != default]
picked = c2.selectbox("Model", choices, key=f"ai_model_{provider}")
custom = c3.text_input("Other model id (optional)", key=f"ai_custom_{provider}",
                       help="Any model the provider (or the server at OPENAI_BASE_URL) serves; unpriced models show cost as unknown")
model = custom.strip() or picked
if not providers.is_configured(settings(), provider):
    st.error(f"{providers.LABELS[provider]} is not configured: set {providers.KEY_SETTING[provider]} "
             "(and optionally its base URL) in the environment or .env, then restart. Nothing will be queued.")

tabs = st.tabs(["Completion", "Document analysis", "Content generation", "Translation", "Chat", "Batch"])
for tab, render in zip(tabs, (ai_forms.completion, ai_forms.analysis, ai_forms.generation,
                              ai_forms.translation, ai_forms.chat, ai_forms.batch)):
    with tab:
        if can("submit"):
            render(provider, model)
        else:
            read_only_note()
