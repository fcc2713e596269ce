"""sensor_ingest"""
