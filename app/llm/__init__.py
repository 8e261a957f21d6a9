"""AI calls for the console: Anthropic (Messages API) and OpenAI or compatible (Chat Completions).

Other features call `complete` (one prompt) or `converse` (a conversation); both return
``{'content', 'model', 'provider', 'usage': {'input_tokens', 'output_tokens'}, 'cost_usd',
'latency_ms', 'request_id', 'attempts', 'stop_reason'}`` and raise app.errors.NotConfigured when
the provider's key is missing, ProviderRejected (4xx, do not retry) or ProviderBusy (retry).
Modules: providers (SDK clients, errors), completion (one call + accounting), prices, chunking,
prompts, analysis, generation, batch. No celery or streamlit imports here.
"""
from app.llm.analysis import analyze_document
from app.llm.completion import complete, converse
from app.llm.generation import generate_content, translate_text
from app.llm.providers import PROVIDERS, default_model, is_configured

__all__ = ["PROVIDERS", "analyze_document", "complete", "converse", "default_model", "generate_content",
           "is_configured", "translate_text"]
