"""The Streamlit dashboard; it talks to the API over HTTP, never to the database."""
