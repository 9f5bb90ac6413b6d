"""The provider's page in the Airflow UI ("Video generations"), served by the api-server only.

:mod:`.generations` holds the plugin class Airflow loads; everything else (the FastAPI app,
its queries, the gateway look-ups) is imported only when the api-server builds the app.
"""
