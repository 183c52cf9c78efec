"""The bare reference page bench/throughput.py measures the mall against: Flask and
Flask-SQLAlchemy rendering 20 rows from one query through a Jinja template, nothing else. Its
`POST /nothing` answers a form with a 303 and does nothing at all: the stack's floor
(bench/floor.py).

Served by gunicorn as `reference_app:app` from bench/; REFERENCE_DATABASE_URL picks the database
(default: a SQLite file in the temp directory). Its table, bench_reference_item, is created and
filled at start.
"""
import os
import tempfile

from flask import Flask, redirect, render_template_string, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

url = os.environ.get("REFERENCE_DATABASE_URL") or f"sqlite:///{tempfile.gettempdir()}/bench-reference.db"
if url.startswith("postgresql://"):
    url = "postgresql+psycopg://" + url[len("postgresql://"):]

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = url
db = SQLAlchemy(app)


class Item(db.Model):
    __tablename__ = "bench_reference_item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    points: Mapped[int] = mapped_column(Integer)


PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Reference</title></head>
<body><h1>商品</h1><ul>{% for item in items %}<li>{{ item.name }} · {{ item.points }} 积分</li>{% endfor %}</ul></body></html>"""


@app.get("/")
def index():
    items = db.session.execute(select(Item).order_by(Item.id).limit(20)).scalars().all()
    return render_template_string(PAGE, items=items)


@app.post("/nothing")
def nothing():
    """A form posted and answered with a redirect, as a redemption is: no session, no query."""
    return redirect("/", 303) if request.form else ("", 400)


with app.app_context():
    db.create_all()
    if db.session.execute(select(Item.id).limit(1)).first() is None:
        db.session.add_all(Item(name=f"参考商品 {n}", points=100 * n) for n in range(1, 21))
        db.session.commit()
    db.engine.dispose()  # the bench fills the table before gunicorn starts; workers open their own connections
