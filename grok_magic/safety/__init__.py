"""What makes untrusted text safe to show: `markdown` (Markdown parsed with markdown-it-py, the
HTML sanitised with nh3, math kept as text), `plain_text` (control and bidi characters made
visible) and `redaction` (API keys and credentials taken out of anything shown or stored).

The floor of the house: these modules import nothing from grok_magic outside this package.
"""
