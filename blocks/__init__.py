"""Prefect blocks used by themegen, and the names their documents are saved under.

One place for the names, so setup, deployments, the flow and the README agree on them.
"""

# prefect_gcp.GcpCredentials, used as-is: the service account the flow runs as outside Cloud Run
# (on Cloud Run the job's own service account is used through ADC and no block is needed).
GCP_CREDENTIALS_BLOCK = "themegen-gcp"
# prefect.blocks.system.Secret holding the Gemini API key, for THEMEGEN_GEMINI_BACKEND=api_key.
GEMINI_API_KEY_BLOCK = "themegen-gemini-api-key"
# blocks.themegen_config.ThemegenConfig: the user-changeable run configuration.
THEMEGEN_CONFIG_BLOCK = "themegen"
