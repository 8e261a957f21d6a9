# One image for every role (console, workers, beat, flower); the command picks the role.
FROM python:3.11-slim
WORKDIR /srv/console
ENV PYTHONUNBUFFERED=1 DATA_DIR=/data
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home console && mkdir -p /data && chown console /data
USER console
EXPOSE 8501 5555 5556
CMD ["streamlit", "run", "streamlit_app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
