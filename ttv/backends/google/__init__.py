"""Google backends: Gemini scripts, Gemini image keyframes and Veo clips, on google-genai."""
