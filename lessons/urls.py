from django.urls import path

from lessons import views

app_name = "lessons"
urlpatterns = [
    path("", views.index, name="index"),
    path("pygments.css", views.pygments_css, name="pygments_css"),
    # `str` never matches a "/", and the views check the slug before any lookup.
    path("<str:slug>/", views.detail, name="detail"),
    path("<str:slug>/quiz/<str:number>/", views.quiz_answer, name="quiz"),
]
